"""Background jobs for case progress: stage-change pushes, the push sweep and the overdue flag."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from arq import Retry

from models import CaseNotification
from server.catalog import service as catalog_service
from server.core.jobs import job, periodic
from server.progress import messaging, service
from server.wechat import reach
from server.wechat.client import is_transient

log = logging.getLogger("dengji.progress")

NOTIFY_JOB = "progress.stage.notify"
NOTIFY_TRIES = 6


def notify_job_id(event_id: str, citizen_id: int) -> str:
    return f"notify:{event_id}:{citizen_id}"


@job(NOTIFY_JOB, max_tries=NOTIFY_TRIES)
async def notify_stage_change(ctx: dict, *, stage_entry_id: int, citizen_id: int) -> str:
    """Push one stage change to one subscribed citizen, at most once."""
    if not await service.claim_notification(stage_entry_id=stage_entry_id, citizen_id=citizen_id):
        return "skipped"  # sent, failed for good, or another runner holds it
    outcome = dict(stage_entry_id=stage_entry_id, citizen_id=citizen_id)
    resumed = await service.is_resumed(**outcome)
    try:
        catalog = await catalog_service.load()
        content = await service.push_content(stage_entry_id=stage_entry_id, citizen_id=citizen_id,
                                             catalog=catalog, rules=service.rules_for(ctx["settings"]))
        if content is None:
            await service.finish_notification(**outcome, status="failed", error="NO_OPENID")
            return "failed"
        await service.mark_attempt(stage_entry_id=stage_entry_id, citizen_id=citizen_id)
        reached = await messaging.send_stage_change(ctx, content, resumed=resumed)
    except Exception as exc:
        code = str(getattr(exc, "errcode", None) or type(exc).__name__)
        try_no = int(ctx.get("job_try", 1) or 1)
        if is_transient(exc) and try_no < NOTIFY_TRIES:
            # Hand the claim back so the retry can take it again (WeChat answered with an error: nothing left
            # this time; a resend keeps its mark, since the interrupted attempt before it may have landed).
            await service.finish_notification(**outcome, status="pending", error=service.RESUMED if resumed else code)
            if not resumed:
                await CaseNotification.filter(**outcome).update(attempted_at=None)
            raise Retry(defer=min(300, 2 ** try_no)) from exc
        await service.finish_notification(**outcome, status="failed", error=code)
        log.warning("stage push failed", extra={"fields": {"errcode": code, "citizen_id": citizen_id}})
        return "failed"
    if reached.channel is None:  # neither app reaches the person: recorded, never retried
        code = str(reached.errcode) if reached.errcode else service.UNREACHABLE
        await service.finish_notification(**outcome, status="failed", error=code)
        log.info("stage push reached nobody", extra={"fields": {"errcode": code, "citizen_id": citizen_id}})
        return "failed"
    if resumed and reached.errcode == reach.NO_CONSENT:
        # The attempt a crash interrupted used the citizen's one-time consent: it was delivered then (the resend
        # answers 43101 as reached, never raises it: server/wechat/reach.py).
        await service.finish_notification(**outcome, status="sent", error=service.CONSENT_USED)
        log.info("interrupted stage push had been delivered", extra={"fields": {"citizen_id": citizen_id}})
        return "sent"
    await service.finish_notification(**outcome, status="sent")
    return "sent"


@periodic("progress.notify.sweep", every_seconds=120)
async def sweep_pending(ctx: dict) -> int:
    """Re-enqueue pushes left pending (e.g. the process stopped before enqueueing) and those a crash left in
    "sending"; one whose WeChat call may have left is resent without reaching the citizen twice
    (service.recover_stuck)."""
    cutoff = datetime.now(UTC) - timedelta(minutes=5)
    rows = await CaseNotification.filter(status="pending", updated_at__lt=cutoff).limit(1000).values(
        "stage_entry_id", "citizen_id", "stage_entry__event_id")
    recovered = await service.recover_stuck()
    if recovered:
        log.warning("interrupted stage pushes resumed", extra={"fields": {"count": len(recovered)}})
    rows = list(rows) + [r for r in recovered if r not in rows]
    # A job id of its own per sweep round: the first job's id may still be held by its result (arq keeps it), and
    # two enqueues of one row are harmless anyway (only one claims it).
    round_no = int(time.time()) // 300
    for row in rows:
        job_id = f"{notify_job_id(row['stage_entry__event_id'], row['citizen_id'])}:sweep{round_no}"
        await ctx["jobs"].enqueue(NOTIFY_JOB, job_id=job_id,
                                  stage_entry_id=row["stage_entry_id"], citizen_id=row["citizen_id"])
    return len(rows)


@periodic("progress.overdue.flag", every_seconds=600)
async def flag_overdue(ctx: dict) -> int:
    """Flag cases that passed their promised date unfinished, for the staff overdue list."""
    catalog = await catalog_service.load()
    return await service.flag_overdue(catalog=catalog, rules=service.rules_for(ctx["settings"]))
