"""Booking background work: delayed place release, review-result messages, reminders, no-show sweep."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from arq import Retry
from wechatpy.exceptions import WeChatClientException

from models import Booking
from server.booking import availability, clock, messaging, service
from server.catalog import service as catalog_service
from server.core.jobs import job, periodic

log = logging.getLogger("dengji.booking.jobs")


async def _catalog(ctx: dict):
    # The catalog cache lives on an app-like object; jobs keep one in their ctx.
    shim = ctx.setdefault("_catalog_app", SimpleNamespace(ctx=SimpleNamespace(redis=ctx["redis"], keys=ctx["keys"])))
    return await catalog_service.get(shim)


async def _now(ctx: dict):
    catalog = await _catalog(ctx)
    return catalog, clock.of(ctx).now(catalog.tz)


@job("booking.slot.release")
async def release_slot(ctx: dict, *, booking_id: int) -> None:
    """Return a cancelled place to the pool after the hall's anti-scalping delay."""
    _, now = await _now(ctx)
    if await service.release_one(ctx, booking_id=booking_id, now=now):
        return
    booking = await Booking.get_or_none(id=booking_id)
    if booking and booking.released_at is None and booking.release_at and booking.release_at > now:
        raise Retry(defer=max(1.0, (booking.release_at - now).total_seconds()))


@job("booking.review.notify", max_tries=5)
async def notify_review(ctx: dict, *, booking_id: int) -> None:
    """Tell a subscribed citizen that the center confirmed or declined their booking, once."""
    booking = await Booking.get_or_none(id=booking_id).prefetch_related("citizen")
    if booking is None or not booking.subscribe or booking.citizen is None:
        return
    await _send_once(ctx, booking=booking, field="review_notified_at", kind="booking_review")


async def _send_once(ctx: dict, *, booking: Booking, field: str, kind: str) -> None:
    """Send one booking message at most once: claimed by its timestamp field, the claim freed for a retry."""
    catalog, now = await _now(ctx)
    if not await service.claim(booking_id=booking.id, field=field, now=now):
        return
    try:
        # The mini-program's subscribe message, else the public account's template message (followers only); one
        # nobody can reach is logged and counted (dengji_wechat_unreachable_total), its claim kept: not retried.
        await messaging.deliver(ctx, catalog=catalog, booking=booking, kind=kind)
    except (WeChatClientException, OSError) as exc:
        await service.unclaim(booking_id=booking.id, field=field)
        raise Retry(defer=30 * ctx.get("job_try", 1)) from exc


@job("booking.center_cancel.notify", max_tries=5)
async def notify_center_cancel(ctx: dict, *, booking_id: int) -> None:
    """Tell a citizen that the center cancelled their booking (closure), with the reason and a rebook link, once."""
    booking = await Booking.get_or_none(id=booking_id).prefetch_related("citizen")
    if booking is None or booking.citizen is None or booking.status != "center_cancelled":
        return
    await _send_once(ctx, booking=booking, field="center_notified_at", kind="booking_center_cancelled")


@periodic("booking.reminders.send", every_seconds=60)
async def send_reminders(ctx: dict) -> int:
    """Remind subscribed citizens the day before (mini-program subscribe message, or the public account's template
    message for a person only the public account reaches); claimed before it is sent, so never twice."""
    catalog, now = await _now(ctx)
    sent = 0
    for booking_id in await service.due_reminders(catalog=catalog, now=now):
        if not await service.claim(booking_id=booking_id, field="reminded_at", now=now):
            continue  # another worker took it
        booking = await Booking.get(id=booking_id).prefetch_related("citizen")
        try:
            if await messaging.deliver(ctx, catalog=catalog, booking=booking, kind="booking_reminder"):
                sent += 1
        except (WeChatClientException, OSError):
            # Transient: free the claim so the next sweep tries again.
            await service.unclaim(booking_id=booking_id, field="reminded_at")
            log.warning("reminder deferred", extra={"fields": {"booking": booking_id}})
    return sent


@periodic("booking.no_shows.sweep", every_seconds=60)
async def sweep_no_shows(ctx: dict) -> int:
    """Mark no-shows after each slot ends and apply the suspension rule."""
    catalog, now = await _now(ctx)
    return await service.sweep_no_shows(catalog=catalog, now=now)


@periodic("booking.idempotency.expire", every_seconds=600)
async def expire_idempotency_keys(ctx: dict) -> int:
    """Forget idempotency keys older than booking_rules.idempotency_ttl_seconds (a key repeats only that long)."""
    catalog = await _catalog(ctx)
    return await service.expire_idempotency_keys(ttl_seconds=catalog.rules.idempotency_ttl_seconds)


@periodic("booking.slots.release_due", every_seconds=60)
async def release_due(ctx: dict) -> int:
    """Release every cancelled place whose delay passed (backs up the per-booking job)."""
    _, now = await _now(ctx)
    return await service.release_due(ctx, now=now)


@periodic("booking.counters.prepare", every_seconds=600)
async def prepare_counters(ctx: dict) -> int:
    """Keep the slot counters of the whole booking window in place before each day's release rush."""
    catalog, now = await _now(ctx)
    return await availability.prepare_window(catalog, now)
