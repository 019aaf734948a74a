"""Redis killed or paused under a running app: committed writes answer success, reads come from memory
or the database, what needs Redis answers a clear 503 in Chinese, and nothing waits past a second or two.

Each test runs its own redis-server on a free port (tests/faults/conftest.py) and stops it on purpose.
"""

from __future__ import annotations

import asyncio
import time

from tortoise.expressions import F

from models import Booking, BookingStatus, SlotCounter
from server.booking import availability
from tests.booking.conftest import MONDAY, book, citizen
from tests.conftest import start_app, stop_app
from tests.factories import staff_headers
from tests.wechat.helpers import WeChatServer, text_xml

SLOTS = "/api/halls/center/slots?date=2026-11-24"


async def _remaining(client, start: str = "09:00") -> int:
    res = await client.get(SLOTS)
    assert res.status_code == 200, res.text
    return next(s["remaining"] for s in res.json()["slots"] if s["start"] == start)


async def _db_remaining(start: str = "09:00") -> int:
    counter = await SlotCounter.get(hall_code="center", date="2026-11-24", start=start, channel="online")
    return counter.quota - counter.booked


async def _timed(coro, limit: float):
    began = time.monotonic()
    result = await coro
    elapsed = time.monotonic() - began
    assert elapsed < limit, f"took {elapsed:.2f} s (limit {limit} s)"
    return result


async def _until(check, seconds: float) -> float:
    """Wait until `await check()` is true; return how long it took."""
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, "did not recover in time"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def _running(settings, own_redis):
    live, server = await start_app(settings.model_copy(update={"redis_url": own_redis.url}))
    live.ctx.clock.set(MONDAY)
    return live, server


async def test_redis_killed_commits_answer_success_and_the_database_stays_the_truth(settings, own_redis):
    live, server = await _running(settings, own_redis)
    try:
        client = live.http
        headers, _ = await citizen(client)
        staff = await staff_headers(client)
        before = await _remaining(client)

        own_redis.kill()
        # A booking commits, then its availability announcement fails: the answer is still the booking.
        res = await _timed(book(client, headers, idempotency_key="fault-1"), 2.5)
        assert res.status_code == 201, res.text
        booking = res.json()
        assert await Booking.get(id=booking["id"]).values_list("status", flat=True) == BookingStatus.CONFIRMED
        # The citizen's retry with the same key answers the same booking, not an error.
        again = await _timed(book(client, headers, idempotency_key="fault-1"), 2.5)
        assert again.status_code == 200 and again.json()["id"] == booking["id"]
        # Reads come from the database, never stale past the commit.
        assert await _timed(_remaining(client), 2.5) == before - 1 == await _db_remaining()
        res = await _timed(client.post(f"/api/bookings/{booking['id']}/cancel", headers=headers), 2.5)
        assert res.status_code == 200 and res.json()["status"] == "cancelled", res.text
        assert (await Booking.get(id=booking["id"])).status == BookingStatus.CANCELLED
        assert await _remaining(client) == before == await _db_remaining()
        # What truly needs Redis (staff sessions are checked there every time) answers 503 in Chinese.
        res = await _timed(client.get("/api/staff/bookings", headers=staff), 2.5)
        assert res.status_code == 503, res.text
        assert res.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and "请稍后重试" in res.json()["error"]["message"]
        health = await _timed(client.get("/healthz"), 1.5)
        assert health.status_code == 503 and health.json()["checks"]["database"] == "ok"

        own_redis.start()  # same port, empty (sessions are gone): the owed announcements go out from the outbox
        await _until(lambda: _ok(client.get("/healthz")), 10)
        staff = await staff_headers(client)
        assert (await client.get("/api/staff/bookings", headers=staff)).status_code == 200
        keys = live.ctx.keys
        version = keys("booking", "avail", "center", "2026-11-24")
        await _until(lambda: live.ctx.redis.exists(version), 10)
        assert (await client.get("/healthz")).status_code == 200
    finally:
        await stop_app(live, server)


async def _ok(request) -> bool:
    return (await request).status_code == 200


async def test_redis_paused_nothing_waits_and_reads_are_at_most_seconds_old(settings, own_redis, fake_wechat):
    live, server = await _running(settings, own_redis)
    wx = WeChatServer(live.http, fake_wechat.appid)
    try:
        client = live.http
        headers, _ = await citizen(client)
        staff = await staff_headers(client)
        before = await _remaining(client)
        await _until(lambda: _async(availability.following(live.ctx)), 5)

        own_redis.pause()
        try:
            # Every answer comes well inside WeChat's 5-second window.
            health = await _timed(client.get("/healthz"), 1.5)
            assert health.status_code == 503 and health.json()["checks"]["redis"].startswith("error")
            res = await _timed(book(client, headers), 2.5)
            assert res.status_code == 201, res.text
            assert await _timed(_remaining(client), 2.5) == before - 1
            res = await _timed(client.get("/api/staff/bookings", headers=staff), 2.5)
            assert res.status_code == 503
            # WeChat gives up on a reply after 5 s: the endpoint answers (a reply or a clear refusal) well before.
            res = await _timed(wx.post(text_xml("o-paused-citizen", "二手房过户要带什么材料"), "safe"), 2.5)
            assert res.status_code in (200, 503), res.text
            # Another worker's booking (its announcement cannot reach this one): served within seconds.
            await SlotCounter.filter(hall_code="center", date="2026-11-24", start="09:00",
                                     channel="online").update(booked=F("booked") + 1)
            waited = await _until(lambda: _equals(_remaining(client), before - 2), 6)
            assert waited < availability.PING_GRACE + 2
        finally:
            own_redis.resume()
        await _until(lambda: _ok(client.get("/api/staff/bookings", headers=staff)), 10)
        await _until(lambda: _async(availability.following(live.ctx)), 10)
        assert await _remaining(client) == before - 2 == await _db_remaining()
    finally:
        await stop_app(live, server)


async def _async(value):
    return value


async def _equals(coro, expected) -> bool:
    return await coro == expected
