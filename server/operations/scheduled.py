"""Operations background work: keep the recent days' figure roll-ups fresh."""

from __future__ import annotations

from datetime import timedelta

from server.booking import service as booking_service
from server.booking.scheduled import _now
from server.core.jobs import periodic
from server.operations import closures, figures


@periodic("operations.figures.roll", every_seconds=600)
async def roll_recent(ctx: dict) -> int:
    """Roll up the last days (bookings, check-ins and no-shows still move until a day is over)."""
    catalog, now = await _now(ctx)
    today = now.date()
    return await figures.ensure_rolled(catalog, today - timedelta(days=figures.LIVE_DAYS), today, today)


@periodic("operations.closures.apply", every_seconds=300)
async def apply_closures(ctx: dict) -> int:
    """Cancel for the center (and tell) bookings whose slot a calendar change closed without cancelling them."""
    catalog, now = await _now(ctx)
    cancelled = []
    for booking in await booking_service.closed_ahead(catalog=catalog, now=now):
        cancelled += await closures.cancel_for_center(ctx, bookings=[booking],
                                                      reason=booking_service.closed_reason(catalog, booking),
                                                      closure_id=None, now=now)
    await closures.notify(ctx["jobs"], cancelled)
    return len(cancelled)
