"""Delivery machinery: retries, permanent failures, rate limit, no duplicates, crash recovery, real arq."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from models import DeliveryStatus, NoticeDelivery
from notices import delivery
from tests.conftest import requires_redis, start_app, stop_app
from tests.factories import staff_headers
from tests.notices.conftest import write_config
from tests.notices.helpers import create_notice, join, make_org, report, submit, wait_status

TEMPLATE = "cgi-bin/message/template/send"


async def _org_with_members(client, fake, n: int):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin, type="agency")
    openids = [(await join(client, fake, admin, org["id"]))[1] for _ in range(n)]
    return admin, org, openids


async def test_transient_errors_retried_then_sent(live, client, fake_wechat):
    _, org, openids = await _org_with_members(client, fake_wechat, 3)
    publisher = await staff_headers(client, role="publisher")
    fake_wechat.fail_next(TEMPLATE, -1, times=2)
    fake_wechat.fail_next(TEMPLATE, 45009, times=1)
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    assert sorted(b["touser"] for b in fake_wechat.sent("template")) == sorted(openids)
    rows = await NoticeDelivery.filter(notice_id=notice["id"])
    assert all(r.status == DeliveryStatus.SENT for r in rows)
    assert sum(r.attempts for r in rows) == 3 + 3  # three failed calls were each tried again
    assert len(fake_wechat.calls_to(TEMPLATE)) == 6


async def test_permanent_errors_not_retried_and_reported(live, client, fake_wechat):
    _, org, openids = await _org_with_members(client, fake_wechat, 4)
    publisher = await staff_headers(client, role="publisher")
    fake_wechat.fail_openids[openids[0]] = 43101
    fake_wechat.fail_openids[openids[1]] = 40003
    fake_wechat.fail_openids[openids[2]] = -1  # never recovers: gives up after max_attempts (3)
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    assert [b["touser"] for b in fake_wechat.sent("template")] == [openids[3]]
    calls = [c.json["touser"] for c in fake_wechat.calls_to(TEMPLATE)]
    assert calls.count(openids[0]) == 1 and calls.count(openids[1]) == 1 and calls.count(openids[2]) == 3
    rep = await report(client, publisher, notice["id"])
    assert rep["totals"]["sent"] == 1 and rep["totals"]["failed"] == 3
    reasons = {f["code"]: f["reason"] for f in rep["failures"]}
    assert reasons[43101] == "用户拒收消息" and reasons[40003] == "openid 无效"
    assert reasons[-1].startswith("微信系统繁忙") and "已重试 3 次" in reasons[-1]
    csv_text = (await client.get(f"/api/staff/notices/{notice['id']}/report.csv", headers=publisher)).text
    assert "用户拒收消息×1" in csv_text


async def test_rate_limit_is_respected(settings, fake_wechat):
    write_config(settings.home, rate=20, burst=5)
    live, server = await start_app(settings)
    try:
        client = live.http
        _, org, openids = await _org_with_members(client, fake_wechat, 30)
        publisher = await staff_headers(client, role="publisher")
        fake_wechat.rate_limit_per_second = 25  # WeChat refuses faster senders with 45011 (frequency limit)
        notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
        started = time.monotonic()
        await submit(client, publisher, notice["id"])
        await wait_status(live, client, publisher, notice["id"], timeout=30)
        elapsed = time.monotonic() - started
        assert len(fake_wechat.sent("template")) == 30
        assert elapsed >= (30 - 5) / 20 * 0.9  # burst of 5, then 20/s
        assert [c for c in fake_wechat.calls_to(TEMPLATE) if c.errcode in (45009, 45011)] == []
    finally:
        await stop_app(live, server)


async def test_fan_out_twice_concurrently_sends_once(live, client, fake_wechat):
    admin = await staff_headers(client, role="admin")
    orgs = [await make_org(client, admin, type="developer") for _ in range(2)]
    openids = []
    for org in orgs:
        openids += [(await join(client, fake_wechat, admin, org["id"]))[1] for _ in range(10)]
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"types": ["developer"]})
    # Approved but not enqueued through the API: run the fan-out job twice at once, plus extra senders.
    from models import Notice, NoticeStatus

    await Notice.filter(id=notice["id"]).update(status=NoticeStatus.APPROVED)
    ctx = live.ctx.job_ctx
    totals = await asyncio.gather(delivery.expand(ctx, notice["id"]), delivery.expand(ctx, notice["id"]),
                                  delivery.send_pending(ctx, notice["id"]))
    assert max(totals[:2]) == 20
    await asyncio.gather(*[delivery.send_pending(ctx, notice["id"]) for _ in range(4)])
    await wait_status(live, client, publisher, notice["id"])
    sent = [b["touser"] for b in fake_wechat.sent("template")]
    assert sorted(sent) == sorted(openids) and len(set(sent)) == 20
    assert await NoticeDelivery.filter(notice_id=notice["id"]).count() == 20


async def _expanded_without_senders(live, client, fake, n: int):
    """An approved notice expanded into pending rows, with no sender started yet."""
    from models import Notice, NoticeStatus

    _, org, openids = await _org_with_members(client, fake, n)
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
    await Notice.filter(id=notice["id"]).update(status=NoticeStatus.APPROVED)
    await delivery.start(notice["id"])
    async for rows in delivery._recipient_batches(await Notice.get(id=notice["id"]), 100):
        await NoticeDelivery.bulk_create(rows)
    await Notice.filter(id=notice["id"]).update(expanded=True)
    rows = await NoticeDelivery.filter(notice_id=notice["id"]).order_by("id")
    return publisher, notice["id"], rows


async def _crash(row: NoticeDelivery, *, attempted_ago: float) -> None:
    """Leave a row as a SIGKILLed sender does: in `sending`, lease expired."""
    at = datetime.now(UTC)
    await NoticeDelivery.filter(id=row.id).update(
        status=DeliveryStatus.SENDING, owner="dead:0", attempts=1,
        last_attempt_at=at - timedelta(seconds=attempted_ago), lease_until=at - timedelta(seconds=0.01))


def _template_calls(fake, openid: str) -> list:
    return [c for c in fake.calls_to(TEMPLATE) if c.json["touser"] == openid]


@pytest.mark.parametrize("duplicate_reply", ["ok", "first"])
async def test_interrupted_send_is_resent_once_with_same_client_msg_id(live, client, fake_wechat, duplicate_reply):
    """WeChat got the message, the worker died before recording it: resent with the same id, delivered once.

    WeChat does not document what it answers to the repeated id, so the outcome must not depend on it."""
    fake_wechat.client_msg_id_duplicate_reply = duplicate_reply
    publisher, notice_id, rows = await _expanded_without_senders(live, client, fake_wechat, 3)
    ctx = live.ctx.job_ctx
    cfg = delivery.load_config(ctx["settings"])
    landed, never = rows[0], rows[1]
    first = await delivery.messaging.send(ctx, cfg, channel="oa", openid=landed.openid, data={"first": {"value": "x"}},
                                          link=None, client_msg_id=delivery.client_msg_id(landed))
    assert first.ok and len(fake_wechat.sent("template", touser=landed.openid)) == 1
    await _crash(landed, attempted_ago=30)
    await _crash(never, attempted_ago=30)  # claimed, then killed before the request left
    result = await delivery.sweep(ctx)  # what the periodic job does after a restart
    assert (result["resent"], result["expired"]) == (2, 0)
    await wait_status(live, client, publisher, notice_id)

    for row in rows:
        assert len(fake_wechat.sent("template", touser=row.openid)) == 1
        assert {c.json["client_msg_id"] for c in _template_calls(fake_wechat, row.openid)} == {
            f"n{notice_id}-d{row.id}"}
    assert len(_template_calls(fake_wechat, landed.openid)) == 2 and fake_wechat.deduped == 1
    assert len(_template_calls(fake_wechat, never.openid)) == 1
    done = await NoticeDelivery.get(id=landed.id)
    assert done.status == DeliveryStatus.SENT and done.error_code is None
    assert done.msgid == (first.msgid if duplicate_reply == "first" else None)
    rep = await report(client, publisher, notice_id)
    assert rep["totals"]["sent"] == 3 and rep["failures"] == []


async def test_stuck_past_resend_window_is_not_resent(live, client, fake_wechat):
    """Older than the window WeChat may have forgotten the id: reported as unknown, never sent twice."""
    publisher, notice_id, rows = await _expanded_without_senders(live, client, fake_wechat, 3)
    ctx = live.ctx.job_ctx
    await _crash(rows[0], attempted_ago=541)  # default window: 540 s
    assert (await delivery.sweep(ctx))["expired"] == 1
    await wait_status(live, client, publisher, notice_id)
    assert rows[0].openid not in [b["touser"] for b in fake_wechat.sent("template")]
    assert len(fake_wechat.sent("template")) == 2
    rep = await report(client, publisher, notice_id)
    assert rep["failures"][0]["code"] == delivery.UNKNOWN_CODE and "结果未知" in rep["failures"][0]["reason"]


async def test_resumed_row_rechecks_window_at_resend(live, client, fake_wechat, idle_queue):
    """Requeued in time but picked up too late, or retried after a transient error: window counts from the crash."""
    publisher, notice_id, rows = await _expanded_without_senders(live, client, fake_wechat, 3)
    queue, pool = idle_queue
    ctx = {**live.ctx.job_ctx, "jobs": queue}
    await _crash(rows[0], attempted_ago=539.9)
    await _crash(rows[1], attempted_ago=30)
    assert (await delivery.sweep(ctx))["resent"] == 2
    assert delivery.SEND_JOB in await _queued(queue, pool)  # the resend waits for a worker
    await asyncio.sleep(0.2)  # rows[0] is now past the window
    fake_wechat.fail_next(TEMPLATE, -1)  # rows[1] or rows[2] is refused once and retried
    await delivery.send_pending(ctx, notice_id)
    await asyncio.sleep(0.3)
    await delivery.send_pending(ctx, notice_id)
    late, kept = await NoticeDelivery.get(id=rows[0].id), await NoticeDelivery.get(id=rows[1].id)
    assert late.status == DeliveryStatus.FAILED and late.error_code == delivery.UNKNOWN_CODE
    assert _template_calls(fake_wechat, rows[0].openid) == []
    assert kept.status == DeliveryStatus.SENT
    assert sorted(b["touser"] for b in fake_wechat.sent("template")) == sorted([rows[1].openid, rows[2].openid])


async def test_resumed_row_keeps_crash_time_through_retries(live, client, fake_wechat, idle_queue):
    """A transient error on the resend keeps the row marked, and the next claim keeps the crash time."""
    _, notice_id, rows = await _expanded_without_senders(live, client, fake_wechat, 1)
    queue, pool = idle_queue
    ctx = {**live.ctx.job_ctx, "jobs": queue}
    await _crash(rows[0], attempted_ago=60)
    crashed_at = (await NoticeDelivery.get(id=rows[0].id)).last_attempt_at
    await delivery.sweep(ctx)
    fake_wechat.fail_next(TEMPLATE, -1)
    await delivery.send_pending(ctx, notice_id)
    row = await NoticeDelivery.get(id=rows[0].id)
    assert row.status == DeliveryStatus.PENDING and row.error_code == delivery.RESUMED_CODE
    assert row.last_attempt_at == crashed_at and row.attempts == 2
    await NoticeDelivery.filter(id=row.id).update(next_attempt_at=None)
    await delivery.send_pending(ctx, notice_id)
    row = await NoticeDelivery.get(id=rows[0].id)
    assert row.status == DeliveryStatus.SENT and row.last_attempt_at == crashed_at and row.attempts == 3
    assert len(fake_wechat.sent("template")) == 1


async def test_cancellation_mid_batch_loses_and_duplicates_nothing(live, client, fake_wechat, idle_queue):
    """arq cancels jobs on SIGTERM: in-flight sends are recorded, the rest stays pending for the re-run."""
    _, org, openids = await _org_with_members(client, fake_wechat, 12)
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
    from models import Notice, NoticeStatus

    await Notice.filter(id=notice["id"]).update(status=NoticeStatus.APPROVED)
    queue, pool = idle_queue
    ctx = {**live.ctx.job_ctx, "jobs": queue}
    await delivery.expand(ctx, notice["id"])
    assert set(await _queued(queue, pool)) == {delivery.SEND_JOB}  # expand hands the sends to a worker
    fake_wechat.latency = 0.3
    task = asyncio.create_task(delivery.send_pending(ctx, notice["id"]))
    await asyncio.sleep(0.15)  # the first claim of 8 is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fake_wechat.latency = 0
    statuses = await NoticeDelivery.filter(notice_id=notice["id"]).values_list("status", flat=True)
    assert DeliveryStatus.SENDING not in statuses  # nothing left ambiguous
    assert statuses.count(DeliveryStatus.SENT) == len(fake_wechat.sent("template")) == 8
    await delivery.send_pending(ctx, notice["id"])  # arq's re-run
    sent = [b["touser"] for b in fake_wechat.sent("template")]
    assert sorted(sent) == sorted(openids)


@pytest.fixture
async def idle_queue(live):
    """arq's real queue on the app's Redis, with no worker running: what the code enqueues waits there (as when
    every worker is busy), so the test decides when each send runs. Yields (queue, its pool)."""
    import fakeredis
    from arq.connections import ArqRedis

    from server.core import redis as core_redis
    from server.core.jobs import ArqQueue

    if live.ctx.settings.redis_url:
        pool = ArqRedis.from_url(live.ctx.settings.redis_url)
    else:  # the embedded stand-in the app runs on (arq reads bytes, the app's client decodes)
        pool = ArqRedis(connection_pool=fakeredis.FakeAsyncRedis(server=core_redis._EMBEDDED_SERVER).connection_pool)
    queue = ArqQueue(pool, live.ctx.keys("arq", "idle-queue"))
    yield queue, pool
    jobs = await pool.queued_jobs(queue_name=queue.queue_name)
    await pool.delete(queue.queue_name, *[f"arq:job:{j.job_id}" for j in jobs])
    await pool.aclose()


async def _queued(queue, pool) -> list[str]:
    return [job.function for job in await pool.queued_jobs(queue_name=queue.queue_name)]


@requires_redis
async def test_real_arq_worker_delivers(settings, fake_wechat):
    """The same job functions run in arq's Worker against real Redis, enqueued by the app."""
    from arq.worker import Worker, get_kwargs

    from server.worker import worker_settings

    arq_settings = settings.model_copy(update={"jobs_backend": "arq"})
    live, server = await start_app(arq_settings)
    worker = Worker(**{**get_kwargs(worker_settings(arq_settings)), "handle_signals": False, "poll_delay": 0.05})
    run = asyncio.create_task(worker.async_run())
    try:
        client = live.http
        _, org, openids = await _org_with_members(client, fake_wechat, 15)
        publisher = await staff_headers(client, role="publisher")
        notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]})
        await submit(client, publisher, notice["id"])
        await wait_status(live, client, publisher, notice["id"])
        assert sorted(b["touser"] for b in fake_wechat.sent("template")) == sorted(openids)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await worker.pool.aclose() if worker._pool else None
        await stop_app(live, server)
