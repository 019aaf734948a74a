"""Fan-out and delivery of a notice: expand recipients into delivery rows, then claim and send them.

Exactly-once is what we aim for and at-most-once is what we guarantee:

* Expansion inserts one row per recipient; UNIQUE (notice, member) and (notice, openid) plus
  INSERT … ON CONFLICT DO NOTHING make re-running it (twice concurrently, or after a crash) harmless.
* A sender claims rows with a conditional UPDATE (pending → sending, with an owner token, a lease
  and the attempt time) so two workers never hold the same row, takes rate tokens *before* claiming
  so a claimed row goes straight to WeChat, and marks it sent as soon as WeChat answers.
* Cancellation (arq on SIGTERM) is made safe: in-flight sends are shielded, their outcome recorded,
  then the job re-raises and arq runs it again for the rows still pending. Nothing is ambiguous.
* Ambiguous rows exist only after a hard crash (SIGKILL, power loss) between WeChat's answer and our
  UPDATE: they sit in `sending` past their lease. WeChat template sends carry no idempotency key,
  so re-sending could deliver twice. Policy: never re-send them; mark them failed with the reason
  "结果未知" so the report shows them and staff can follow up. At most `claim_size` rows per killed
  sender can end up this way (the rows in flight at the moment of the kill).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q

from models import (
    DeliveryStatus,
    HallSubscription,
    Notice,
    NoticeAudience,
    NoticeDelivery,
    NoticeStatus,
    OrgMember,
)
from notices import messaging
from notices.config import NoticesConfig, load_config
from notices.ratelimit import TokenBucket
from notices.targeting import matching_org_ids

log = logging.getLogger("dengji.notices")

SEND_JOB = "notices.delivery.send"
UNKNOWN_CODE = -2
UNKNOWN_REASON = "发送结果未知（发送进程中断），为避免重复未自动重发"


def now() -> datetime:
    return datetime.now(UTC)


def bucket(ctx: dict, cfg: NoticesConfig) -> TokenBucket:
    return TokenBucket(ctx["redis"], ctx["keys"]("notices", "rate", "template"),
                       rate=cfg.delivery.rate_per_second, burst=cfg.delivery.burst)


async def start(notice_id: int) -> Notice | None:
    """Move a due notice to `sending`; return it if this call (or an earlier interrupted one) owns expansion."""
    moved = await Notice.filter(
        Q(id=notice_id), Q(status__in=[NoticeStatus.APPROVED, NoticeStatus.SCHEDULED]),
        Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now()),
    ).update(status=NoticeStatus.SENDING, started_at=now())
    notice = await Notice.get_or_none(id=notice_id)
    if notice is None or notice.status != NoticeStatus.SENDING:
        return None
    if not moved and notice.expanded:
        return None
    return notice


async def _recipient_batches(notice: Notice, batch_size: int):
    """Yield recipient rows in batches of at most batch_size, in a stable order."""
    if notice.audience == NoticeAudience.PUBLIC:
        halls = notice.target.get("halls") or []
        last = 0
        while True:
            subs = await HallSubscription.filter(hall_code__in=halls, id__gt=last).order_by("id").limit(batch_size)
            if not subs:
                return
            last = subs[-1].id
            yield [NoticeDelivery(notice_id=notice.id, citizen_id=s.citizen_id, openid=s.openid, channel="mp")
                   for s in subs]
    org_ids = await matching_org_ids(notice.target)
    last = 0
    while org_ids:
        members = await OrgMember.filter(org_id__in=org_ids, active=True, id__gt=last).order_by("id").limit(batch_size)
        if not members:
            return
        last = members[-1].id
        yield [NoticeDelivery(notice_id=notice.id, member_id=m.id, org_id=m.org_id, openid=m.openid,
                              channel="oa") for m in members]


async def expand(ctx: dict, notice_id: int) -> int:
    """Expand a due notice into delivery rows in batches, then start the senders; idempotent."""
    notice = await start(notice_id)
    if notice is None:
        return 0
    cfg = load_config(ctx["settings"])
    async for rows in _recipient_batches(notice, cfg.delivery.batch_size):
        await NoticeDelivery.bulk_create(rows, ignore_conflicts=True)
    total = await NoticeDelivery.filter(notice_id=notice_id).count()
    await Notice.filter(id=notice_id).update(expanded=True, recipients=total)
    for _ in range(cfg.delivery.senders):
        await ctx["jobs"].enqueue(SEND_JOB, notice_id=notice_id)
    if total == 0:
        await finish_if_done(notice_id)
    return total


async def _claim(notice_id: int, owner: str, limit: int, lease: float) -> list[NoticeDelivery]:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now())
    for _ in range(5):  # another sender may win the same rows; look again a few times
        ids = await (NoticeDelivery.filter(Q(notice_id=notice_id), Q(status=DeliveryStatus.PENDING), due)
                     .order_by("id").limit(limit * 4).values_list("id", flat=True))
        if not ids:
            return []
        ids = random.sample(list(ids), min(limit, len(ids)))  # spread concurrent senders apart
        at = now()
        claimed = await NoticeDelivery.filter(id__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING, owner=owner, lease_until=at + timedelta(seconds=lease),
            last_attempt_at=at, attempts=F("attempts") + 1)
        if claimed:
            return await NoticeDelivery.filter(owner=owner, status=DeliveryStatus.SENDING)
    return []


def _backoff(cfg: NoticesConfig, attempts: int) -> float:
    d = cfg.delivery
    return min(d.retry_max_seconds, d.retry_base_seconds * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


async def _deliver(ctx: dict, cfg: NoticesConfig, row: NoticeDelivery, message: tuple[dict, str | None]) -> None:
    result = await messaging.send(ctx, cfg, channel=row.channel, openid=row.openid, data=message[0],
                                  link=message[1])
    mine = NoticeDelivery.filter(id=row.id, owner=row.owner)
    if result.ok:
        # Keyed on owner, not status: if a sweeper already gave the row up as unknown, the truth wins.
        await mine.update(status=DeliveryStatus.SENT, sent_at=now(), msgid=result.msgid, lease_until=None,
                          error_code=None, error_reason=None)
    elif result.transient and row.attempts < cfg.delivery.max_attempts:
        await mine.update(status=DeliveryStatus.PENDING, owner=None, lease_until=None, error_code=result.code,
                          error_reason=result.reason,
                          next_attempt_at=now() + timedelta(seconds=_backoff(cfg, row.attempts)))
    else:
        reason = result.reason if not result.transient else f"{result.reason}（已重试 {row.attempts} 次）"
        await mine.update(status=DeliveryStatus.FAILED, lease_until=None, error_code=result.code,
                          error_reason=reason)


async def send_pending(ctx: dict, notice_id: int) -> int:
    """Claim and send due deliveries of a notice until none is left; return how many were attempted."""
    notice = await Notice.get_or_none(id=notice_id)
    if notice is None or notice.status != NoticeStatus.SENDING:
        return 0
    cfg = load_config(ctx["settings"])
    limiter = bucket(ctx, cfg)
    payload = {"id": notice.id, "title": notice.title, "body": notice.body, "category": notice.category,
               "started_at": notice.started_at}
    build = messaging.public_message if notice.audience == NoticeAudience.PUBLIC else messaging.org_message
    message = build(cfg, payload)
    worker = uuid.uuid4().hex[:16]
    attempted = 0

    async def step(owner: str, tokens: int) -> int:
        rows = await _claim(notice_id, owner, tokens, cfg.delivery.lease_seconds)
        await limiter.refund(tokens - len(rows))
        await asyncio.gather(*[_deliver(ctx, cfg, row, message) for row in rows], return_exceptions=True)
        return len(rows)

    while True:
        tokens = await limiter.acquire(cfg.delivery.claim_size)
        # Claim, send and record run as one shielded step: a cancellation (arq on SIGTERM) arriving
        # anywhere inside it waits for WeChat's answers and their UPDATEs, so no row is left in
        # `sending`; arq then re-runs this job and the rest is still pending for it.
        running = asyncio.ensure_future(step(f"{worker}:{attempted}", tokens))
        try:
            done = await asyncio.shield(running)
        except asyncio.CancelledError:
            await asyncio.wait([running], timeout=cfg.delivery.lease_seconds)
            raise
        if not done:
            break
        attempted += done
    await reschedule_or_finish(ctx, notice_id)
    return attempted


async def reschedule_or_finish(ctx: dict, notice_id: int) -> None:
    """Schedule a sender for retries that are not yet due, or close the notice when all are settled."""
    waiting = await (NoticeDelivery.filter(notice_id=notice_id, status=DeliveryStatus.PENDING)
                     .order_by("next_attempt_at").first().values("next_attempt_at"))
    if waiting:
        due = waiting["next_attempt_at"] or now()
        delay = max(0.0, (due - now()).total_seconds())
        await ctx["jobs"].enqueue(SEND_JOB, job_id=ctx["keys"]("notice", notice_id, "retry", f"{due.timestamp():.3f}"),
                                  delay=delay + 0.05, notice_id=notice_id)
        return
    await finish_if_done(notice_id)


async def finish_if_done(notice_id: int) -> bool:
    """Mark the notice sent once it is expanded and no delivery is pending or in flight."""
    busy = await NoticeDelivery.filter(
        notice_id=notice_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]).exists()
    if busy:
        return False
    return bool(await Notice.filter(id=notice_id, status=NoticeStatus.SENDING, expanded=True)
                .update(status=NoticeStatus.SENT, finished_at=now()))


async def sweep(ctx: dict) -> dict:
    """Recover after crashes: give up expired leases, resume sending notices, start due scheduled ones."""
    expired = await NoticeDelivery.filter(status=DeliveryStatus.SENDING, lease_until__lt=now()).update(
        status=DeliveryStatus.FAILED, error_code=UNKNOWN_CODE, error_reason=UNKNOWN_REASON)
    if expired:
        log.warning("notice deliveries with unknown outcome", extra={"fields": {"count": expired}})
    resumed = 0
    for notice in await Notice.filter(status=NoticeStatus.SENDING).only("id", "expanded"):
        if not notice.expanded:
            await ctx["jobs"].enqueue(EXPAND_JOB, notice_id=notice.id)
        elif not await finish_if_done(notice.id):
            await ctx["jobs"].enqueue(SEND_JOB, notice_id=notice.id)
        resumed += 1
    due = await Notice.filter(Q(status__in=[NoticeStatus.APPROVED, NoticeStatus.SCHEDULED]),
                              Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now())).values_list("id", flat=True)
    for notice_id in due:
        await ctx["jobs"].enqueue(EXPAND_JOB, notice_id=notice_id)
    return {"expired": expired, "resumed": resumed, "started": len(due)}


EXPAND_JOB = "notices.notice.expand"
