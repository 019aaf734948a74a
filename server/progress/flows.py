"""Cross-domain steps of case progress: ingest then enqueue the pushes it produced."""

from __future__ import annotations

from server.catalog import service as catalog_service
from server.core.errors import AppError
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
