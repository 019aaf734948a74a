"""Concurrency proofs over HTTP: never overbook, per-person limits and idempotency hold under races."""

import asyncio

from models import Booking, SlotCounter
from tests.booking.conftest import book, citizen, error_code
from tests.factories import staff_headers


async def test_many_citizens_racing_for_the_last_places_never_overbook(client, clock):
    admin = await staff_headers(client)
    res = await client.put("/api/staff/halls/center/slots/2026-11-24/09:00", headers=admin,
                           json={"quota": 8, "hotline_quota": 2})
    assert res.status_code == 200 and res.json()["online"]["quota"] == 6
    early = [await citizen(client) for _ in range(2)]
    for headers, _ in early:
        assert (await book(client, headers)).status_code == 201
    remaining = (await client.get("/api/halls/center/slots?date=2026-11-24")).json()["slots"][0]["remaining"]
    assert remaining == 4
    racers = await asyncio.gather(*(citizen(client) for _ in range(60)))
    results = await asyncio.gather(*(book(client, headers) for headers, _ in racers))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == remaining, [r.text for r in results if r.status_code not in (201, 409)]
    assert all(error_code(r) == "SLOT_FULL" for r in results if r.status_code != 201)
    counter = await SlotCounter.get(hall_code="center", start="09:00", channel="online")
    rows = await Booking.filter(hall_code="center", start="09:00", channel="online").count()
    assert counter.booked == rows == counter.quota == 6
    slot = (await client.get("/api/halls/center/slots?date=2026-11-24")).json()["slots"][0]
    assert slot["remaining"] == 0 and slot["bookable"] is False and slot["reason"] == "FULL"


async def test_one_citizen_racing_ten_slots_on_one_day_gets_exactly_one(client, clock):
    headers, _ = await citizen(client)
    starts = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "13:30", "14:00", "14:30", "15:00"]
    halls = ["center", "east"]
    results = await asyncio.gather(*(book(client, headers, hall=halls[i % 2], start=s) for i, s in enumerate(starts)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 9
    assert {error_code(r) for r in results if r.status_code == 409} == {"DAILY_LIMIT"}
    assert await Booking.all().count() == 1
    assert sum(c.booked for c in await SlotCounter.all()) == 1


async def test_one_citizen_racing_five_days_stays_within_three_active(client, clock):
    headers, _ = await citizen(client)
    days = ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"]
    results = await asyncio.gather(*(book(client, headers, date=d) for d in days))
    assert sorted(r.status_code for r in results) == [201] * 3 + [409] * 2
    assert {error_code(r) for r in results if r.status_code == 409} == {"ACTIVE_LIMIT"}
    assert sum(c.booked for c in await SlotCounter.all()) == 3


async def test_repeated_submit_with_same_key_creates_one_booking(client, clock):
    headers, _ = await citizen(client)
    first = await book(client, headers, idempotency_key="tap-1")
    again = await book(client, headers, idempotency_key="tap-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json()
    other = await book(client, headers, idempotency_key="tap-1", start="10:00")
    assert other.status_code == 409 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert await Booking.all().count() == 1


async def test_racing_retries_with_same_key_create_one_booking(client, clock):
    headers, _ = await citizen(client)
    results = await asyncio.gather(*(book(client, headers, idempotency_key="retry-7", date="2026-11-25")
                                     for _ in range(10)))
    assert all(r.status_code in (200, 201) for r in results), [r.text for r in results]
    assert [r.status_code for r in results].count(201) == 1
    assert len({r.json()["id"] for r in results}) == 1
    assert len({r.text for r in results}) == 1
    assert await Booking.all().count() == 1
    assert (await SlotCounter.get(hall_code="center", date="2026-11-25", start="09:00", channel="online")).booked == 1
