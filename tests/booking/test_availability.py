"""Availability reads come from each worker's memory, yet show every change at once, in every worker."""

import asyncio

from server.booking import availability
from tests.booking.conftest import MONDAY, book, citizen
from tests.conftest import start_app, stop_app

SLOTS = "/api/halls/center/slots?date=2026-11-24"


async def _remaining(http) -> int:
    return (await http.get(SLOTS)).json()["slots"][0]["remaining"]


async def _until(predicate, seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_a_change_through_one_worker_shows_in_another_within_200_ms(live, settings, client, clock):
    other, server = await start_app(settings)  # a second worker on the same database and Redis
    try:
        other.ctx.clock.set(MONDAY)

        async def both_following() -> bool:
            return availability.following(live.ctx) and availability.following(other.ctx)

        assert await _until(both_following, 3)
        before = await _remaining(other.http)
        assert await _remaining(other.http) == before  # now served from the second worker's memory
        headers, _ = await citizen(client)
        res = await book(client, headers)
        assert res.status_code == 201
        assert await _remaining(client) == before - 1  # the booking worker: right away

        async def seen(expected: int) -> bool:
            return await _remaining(other.http) == expected

        assert await _until(lambda: seen(before - 1), 0.2)
        res = await client.post(f"/api/bookings/{res.json()['id']}/cancel", headers=headers)
        assert res.status_code == 200
        after_cancel = await _remaining(client)
        assert await _until(lambda: seen(after_cancel), 0.2)
    finally:
        await stop_app(other, server)


async def test_reads_repeat_the_same_answer_until_a_change(client, clock):
    first = await client.get(SLOTS)
    again = await client.get(SLOTS)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert first.headers["content-type"].startswith("application/json")
    headers, _ = await citizen(client)
    assert (await book(client, headers)).status_code == 201
    assert (await client.get(SLOTS)).json()["slots"][0]["remaining"] == first.json()["slots"][0]["remaining"] - 1
    # Ready answers follow the clock: the same-day cut-off and the daily release time.
    today = "/api/halls/center/slots?date=2026-11-23"
    at_0830 = {s["start"]: s for s in (await client.get(today)).json()["slots"]}
    assert at_0830["09:00"]["reason"] == "TOO_LATE" and at_0830["10:00"]["bookable"] is True
    clock.set(MONDAY.replace(hour=9, minute=30))
    at_0930 = {s["start"]: s for s in (await client.get(today)).json()["slots"]}
    assert at_0930["10:00"]["reason"] == "TOO_LATE" and at_0930["10:30"]["bookable"] is True
    last = "/api/halls/center/slots?date=2026-11-29"
    assert (await client.get(last)).json()["released"] is True
    clock.set(MONDAY.replace(hour=7, minute=30))
    assert (await client.get(last)).json()["released"] is False
