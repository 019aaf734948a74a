"""Fan-out and delivery of a notice: expand recipients into delivery rows, then claim and send them.

Exactly-once is what we aim for and at-most-once is what we guarantee:

* Expansion inserts one row per recipient; UNIQUE (notice, member) and (notice, openid) plus
  INSERT … ON CONFLICT DO NOTHING make re-running it (twice concurrently, or after a crash) harmless.
* A sender claims rows with a conditional UPDATE (pending → sending, with an owner token, a lease
  and the attempt time) so two workers never hold the same row, takes rate tokens *before* claiming
  so a claimed row goes straight to WeChat, and marks it sent as soon as WeChat answers.
* Cancellation (arq on SIGTERM) is made safe: in-flight sends are shielded, their outcome recorded,
  then the job re-raises and arq runs it again for the rows still pending. Nothing is ambiguous.
* Ambiguous rows exist only after a hard crash (SIGKILL, power loss) between claiming a row and
  recording WeChat's answer: they sit in `sending` past their lease. Every template send carries
  `client_msg_id` = n{notice}-d{delivery}, and WeChat delivers one message per openid and id within
  10 minutes. So the sweep puts such a row back to pending (error_code RESUMED_CODE) while its last
  attempt is younger than `resend_window_seconds` (default 9 minutes), and it is sent again with the
  same id: delivered once whether or not the lost attempt reached WeChat. A resumed row keeps its
  `last_attempt_at` (the attempt that may have been delivered) through later claims and transient
  retries, and the sender checks the window again right before the resend, so the repeat can never
  leave the dedup window of the first send.
* Past the window, and for citizens' mini-program subscribe messages (that API has no
  client_msg_id), the old policy stands: never re-send; mark the row failed "结果未知" so the report
  shows it and staff can follow up. At most `claim_size` rows per killed sender can end up this way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q

from models import (
    Citizen,
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
RESUMED_CODE = -3  # pending again after an interrupted send; resent with the same client_msg_id
RESUMED_REASON = "发送进程中断，以同一防重入编号重发"


def now() -> datetime:
    return datetime.now(UTC)


def client_msg_id(row: NoticeDelivery) -> str:
    """Return WeChat's 防重入 id for a delivery: stable across every attempt of that row."""
    return f"n{row.notice_id}-d{row.id}"


def _resendable(cfg: NoticesConfig, row: NoticeDelivery) -> bool:
    window = timedelta(seconds=cfg.delivery.resend_window_seconds)
    return row.channel == "oa" and row.last_attempt_at is not None and now() - row.last_attempt_at < window


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


async def _people(openids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """openid (of either app) -> (mini-program openid, public-account openid) of the same person."""
    rows = await Citizen.filter(Q(openid__in=openids) | Q(oa_openid__in=openids)).values_list("openid", "oa_openid")
    return {o: (mp, oa) for mp, oa in rows for o in (mp, oa) if o}


def _route(openid: str, joined_in: str, person: tuple[str | None, str | None] | None) -> tuple[str, str]:
    """(openid, channel) a person is reached at: WeChat refuses (40003) a send to another app's openid.

    A public-account openid gets a template message; a person known only in the mini-program gets its
    subscribe message (or is reported unreachable when none is configured, see _deliver).
    """
    mp, oa = person or (None, None)
    if oa:
        return oa, "oa"
    if mp:
        return mp, "mp"
    return openid, joined_in


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
            people = await _people([s.openid for s in subs])
            rows = []
            for s in subs:
                mp, oa = people.get(s.openid, (None, None))
                # Citizens grant the notice subscribe message in the mini-program: reach them there first.
                openid, channel = (mp, "mp") if mp else (oa, "oa") if oa else (s.openid, "mp")
                rows.append(NoticeDelivery(notice_id=notice.id, citizen_id=s.citizen_id, openid=openid,
                                           channel=channel))
            yield rows
    org_ids = await matching_org_ids(notice.target)
    last = 0
    while org_ids:
        members = await OrgMember.filter(org_id__in=org_ids, active=True, id__gt=last).order_by("id").limit(batch_size)
        if not members:
            return
        last = members[-1].id
        people = await _people([m.openid for m in members])
        rows = []
        for m in members:
            openid, channel = _route(m.openid, m.channel, people.get(m.openid))
            rows.append(NoticeDelivery(notice_id=notice.id, member_id=m.id, org_id=m.org_id, openid=openid,
                                       channel=channel))
        yield rows


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
        claim = dict(status=DeliveryStatus.SENDING, owner=owner, lease_until=at + timedelta(seconds=lease),
                     attempts=F("attempts") + 1)
        free = NoticeDelivery.filter(id__in=ids, status=DeliveryStatus.PENDING)
        claimed = await free.filter(Q(error_code__isnull=True) | ~Q(error_code=RESUMED_CODE)).update(
            last_attempt_at=at, **claim)
        # A resumed row keeps the time of the attempt that may have reached WeChat: its resend must stay
        # inside that attempt's dedup window. Each row is claimed by one atomic UPDATE either way.
        claimed += await free.filter(error_code=RESUMED_CODE).update(**claim)
        if claimed:
            return await NoticeDelivery.filter(owner=owner, status=DeliveryStatus.SENDING)
    return []


def _backoff(cfg: NoticesConfig, attempts: int) -> float:
    d = cfg.delivery
    return min(d.retry_max_seconds, d.retry_base_seconds * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


UNREACHABLE_CODE = -4
UNREACHABLE_REASON = "该成员仅在小程序登记，未配置小程序订阅消息模板，无法推送（可在小程序消息中心查看）"


async def _deliver(ctx: dict, cfg: NoticesConfig, row: NoticeDelivery,
                   messages: dict[str, tuple[dict, str | None]]) -> None:
    mine = NoticeDelivery.filter(id=row.id, owner=row.owner)
    if row.channel == "mp" and not cfg.public_template.template_id:
        await mine.update(status=DeliveryStatus.FAILED, lease_until=None, error_code=UNREACHABLE_CODE,
                          error_reason=UNREACHABLE_REASON)
        return
    message = messages[row.channel]
    resumed = row.error_code == RESUMED_CODE
    if resumed and not _resendable(cfg, row):
        # Picked up too late: WeChat may have forgotten the id, so a resend could deliver twice.
        await mine.update(status=DeliveryStatus.FAILED, lease_until=None, error_code=UNKNOWN_CODE,
                          error_reason=UNKNOWN_REASON)
        return
    result = await messaging.send(ctx, cfg, channel=row.channel, openid=row.openid, data=message[0],
                                  link=message[1], client_msg_id=client_msg_id(row))
    if result.ok:
        # Keyed on owner, not status: if a sweeper already gave the row up as unknown, the truth wins.
        await mine.update(status=DeliveryStatus.SENT, sent_at=now(), msgid=result.msgid, lease_until=None,
                          error_code=None, error_reason=None)
    elif result.transient and row.attempts < cfg.delivery.max_attempts:
        # A resumed row stays marked so its window keeps counting from the attempt that may have landed.
        await mine.update(status=DeliveryStatus.PENDING, owner=None, lease_until=None,
                          error_code=RESUMED_CODE if resumed else result.code,
                          error_reason=RESUMED_REASON if resumed else result.reason,
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
    # The template message (public account) or the subscribe message (mini-program), chosen per row.
    message = {"oa": messaging.org_message(cfg, payload), "mp": messaging.public_message(cfg, payload)}
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
    """Recover after crashes: resend or give up expired leases, resume sending notices, start due ones."""
    cfg = load_config(ctx["settings"])
    at = now()
    stuck = NoticeDelivery.filter(status=DeliveryStatus.SENDING, lease_until__lt=at)
    # Template sends inside WeChat's dedup window go again with the same client_msg_id.
    resent = await stuck.filter(
        channel="oa", last_attempt_at__gt=at - timedelta(seconds=cfg.delivery.resend_window_seconds)).update(
        status=DeliveryStatus.PENDING, owner=None, lease_until=None, next_attempt_at=None,
        error_code=RESUMED_CODE, error_reason=RESUMED_REASON)
    expired = await stuck.update(status=DeliveryStatus.FAILED, error_code=UNKNOWN_CODE, error_reason=UNKNOWN_REASON)
    if resent:
        log.warning("interrupted notice deliveries resent", extra={"fields": {"count": resent}})
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
    return {"resent": resent, "expired": expired, "resumed": resumed, "started": len(due)}


EXPAND_JOB = "notices.notice.expand"
