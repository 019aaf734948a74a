"""The hall queue: windows never share a number, waits are measured, and calls reach call screens through
Redis from any worker's connection."""

import asyncio
import json
import time
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx
import pytest
from tortoise.transactions import in_transaction

from models import QueueTicket
from server.console import screen
from server.core.errors import Conflict
from server.queue import service as queue
from tests.conftest import REDIS_URL

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=TZ)


async def _issue(n: int, business_type: str = "change") -> None:
    async with in_transaction() as conn:
        for i in range(1, n + 1):
            await queue.issue(conn, hall_code="center", day=DAY, number=i, business_type=business_type,
                              now=T0 + timedelta(minutes=i))


async def test_parallel_windows_never_share_a_number(live):
    await _issue(12)
    # Window 3 typed full-width, as a Chinese IME gives it.
    calls = [queue.call_next(ctx=live.ctx, hall_code="center", day=DAY, window="３" if w == 3 else str(w),
                             now=T0 + timedelta(hours=1)) for w in range(1, 13)]
    tickets = await asyncio.gather(*calls)
    assert sorted(t.number for t in tickets) == list(range(1, 13))
    assert len({t.window for t in tickets}) == 12
    assert (await queue.at_window(hall_code="center", day=DAY, window="3")).window == "3"
    with pytest.raises(Conflict) as exc:
        await queue.call_next(ctx=live.ctx, hall_code="center", day=DAY, window="1", now=T0 + timedelta(hours=1))
    assert exc.value.code == "QUEUE_EMPTY"


async def test_waiting_counts_and_average_wait(live):
    await _issue(3, "change")
    async with in_transaction() as conn:
        await queue.issue(conn, hall_code="center", day=DAY, number=4, business_type="mortgage_first", now=T0)
    assert await queue.waiting_counts(hall_code="center", day=DAY) == {"change": 3, "mortgage_first": 1}
    first = await queue.call_next(ctx=live.ctx, hall_code="center", day=DAY, window="1", now=T0 + timedelta(minutes=11),
                                  business_type="change")
    assert first.number == 1  # issued at 09:01, called at 09:11
    await queue.finish(ticket=first, now=T0 + timedelta(minutes=16))
    tickets = await queue.get_all(hall_code="center", day=DAY)
    assert queue.average_minutes(tickets) == {"wait": 10.0, "service": 5.0}
    assert await queue.waiting_counts(hall_code="center", day=DAY) == {"change": 2, "mortgage_first": 1}
    with pytest.raises(Conflict) as exc:
        await queue.finish(ticket=first, now=T0)  # already done
    assert exc.value.code == "TICKET_NOT_CALLED"
    assert (await QueueTicket.get(id=first.id)).status == "done"


async def _first_call(live, token: str, received: list, ready: asyncio.Event) -> None:
    url = f"{live.url}/console/halls/center/screen/events?token={token}"
    async with httpx.AsyncClient(timeout=10) as http, http.stream("GET", url) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in res.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            if line.startswith("data: ") and event == "board":
                assert json.loads(line[6:]) == []  # nothing called yet today
                ready.set()
            if line.startswith("data: ") and event == "call":
                received.append((time.monotonic(), json.loads(line[6:])))
                return


async def test_a_call_from_another_connection_reaches_the_screen_within_a_second(live):
    """Another worker = another Redis connection: its publish reaches this worker's screen stream."""
    await _issue(1)
    token = await screen.issue_token(live.app, "center")
    assert (await live.http.get("/console/halls/center/screen?token=wrong")).status_code == 403
    assert (await live.http.get(f"/console/halls/east/screen?token={token}")).status_code == 403
    received: list = []
    ready = asyncio.Event()
    listener = asyncio.create_task(_first_call(live, token, received, ready))
    await asyncio.wait_for(ready.wait(), 5)  # subscribed: the board is read after subscribing
    if REDIS_URL:
        import redis.asyncio as aioredis

        other = aioredis.from_url(REDIS_URL, decode_responses=True)
    else:
        other = live.ctx.redis  # the embedded stand-in lives in this process only
    sent = time.monotonic()
    await queue.call_next(ctx=SimpleNamespace(redis=other, keys=live.ctx.keys), hall_code="center", day=DAY,
                          window="7", now=T0 + timedelta(minutes=30))
    await asyncio.wait_for(listener, 5)
    if REDIS_URL:
        await other.aclose()
    at, call = received[0]
    assert call["number"] == "001" and call["window"] == "7"
    assert at - sent < 1.0
