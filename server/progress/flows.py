"""Cross-domain steps of case progress: ingest then enqueue the pushes it produced."""

from __future__ import annotations

from server.catalog import service as catalog_service
from server.core.errors import AppError, Conflict
from server.progress import service
from server.progress.scheduled import NOTIFY_JOB, notify_job_id


async def enqueue_pushes(jobs, pushes: list[service.Push]) -> None:
    """Queue one push job per (stage change, citizen); the job id dedupes repeated enqueues."""
    for p in pushes:
        await jobs.enqueue(NOTIFY_JOB, job_id=notify_job_id(p.event_id, p.citizen_id),
                           stage_entry_id=p.stage_entry_id, citizen_id=p.citizen_id)


async def ingest(app, *, client: str, body: bytes) -> dict:
    """Apply events from a business system and queue the stage-change pushes.

    A batch always answers 200 with per-event results; a lone event that is refused answers with its error.
    """
    events, single = service.parse_batch(body)
    catalog = await catalog_service.get(app)
    results, pushes = await service.ingest_events(cipher=app.ctx.cipher, catalog=catalog,
                                                  rules=service.rules_for(app.ctx.settings), client=client,
                                                  events=events)
    await enqueue_pushes(app.ctx.jobs, pushes)
    if single and results[0]["status"] == "rejected":
        err = results[0]["error"]
        raise AppError(err["message"], code=err["code"], status=results[0]["http_status"], details=err.get("details"))
    counts = {k: sum(1 for r in results if r["status"] == k) for k in ("accepted", "duplicate", "rejected")}
    return {**counts, "results": results}


async def stage_updates(app, *, citizen_id: int, receipt_no: str, on: bool) -> dict:
    """Record (or withdraw) a citizen's wish to hear of one case's stage changes, asked on the public account's
    page: the push reaches them by the mini-program or, for a follower, the public account's template message
    (server/wechat/reach.py); one whom neither can reach is told so instead of being signed up for nothing."""
    from models import Citizen
    from server.booking import messaging as booking_messaging

    if on and await booking_messaging.reminder_channel(app, await Citizen.get(id=citizen_id)) is None:
        raise Conflict("您未关注本公众号，微信无法向您发送进展通知；关注公众号后即可订阅", code="UPDATES_UNREACHABLE")
    return await service.update_subscription(citizen_id=citizen_id, receipt_no=receipt_no, active=on)
