"""Background jobs of the notices domain: fan-out, delivery batches, and crash recovery."""

from __future__ import annotations

from notices import delivery
from server.core.jobs import job, periodic


@job(delivery.EXPAND_JOB, max_tries=5)
async def expand_notice(ctx: dict, *, notice_id: int) -> int:
    """Expand a due notice into delivery rows, then start its senders."""
    return await delivery.expand(ctx, notice_id)


@job(delivery.SEND_JOB, max_tries=1000)
async def send_deliveries(ctx: dict, *, notice_id: int) -> int:
    """Claim and send a notice's pending deliveries in batches."""
    return await delivery.send_pending(ctx, notice_id)


@periodic("notices.sweep", every_seconds=60)
async def sweep(ctx: dict) -> dict:
    """Give up expired leases, resume interrupted notices, start due scheduled ones."""
    return await delivery.sweep(ctx)
