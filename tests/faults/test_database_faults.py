"""PostgreSQL connections terminated (pg_terminate_backend on the suite's own throw-away database).

The Tortoise bug: its pooled transaction context set the task's connection variable before BEGIN, and a
BEGIN that failed on a dead connection left it set; Sanic serves every request of a keep-alive
connection in one task, so each later request on that connection failed with 500 until the client
reconnected. server/core/db.py's SafeTransactionContext undoes both steps.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from tortoise import connections
from tortoise.transactions import in_transaction

from models import Booking, BookingStatus, SlotCounter
from tests.booking.conftest import MONDAY, citizen
from tests.conftest import requires_postgres
from tests.faults.conftest import terminate_backends

pytestmark = requires_postgres


async def test_a_transaction_on_a_dead_pooled_connection_retries_and_leaves_the_task_clean(live):
    base = connections.get("default")
    await asyncio.gather(*(Booking.all().count() for _ in range(4)))  # a few pooled connections
    # Terminated while this loop does not run: the pool still believes its connections alive, so the
    # transaction's BEGIN meets a dead one (Tortoise then kept the dead transaction on the task).
    assert terminate_backends(live.ctx.settings.database_url) >= 1
    async with in_transaction() as conn:
        await SlotCounter.create(using_db=conn, hall_code="center", date="2026-12-01", start="09:00",
                                 channel="online", quota=3)
    assert connections.get("default") is base
    assert await SlotCounter.filter(date="2026-12-01").count() == 1
    # Every later query of this task runs on the pool, not on a transaction given back to it.
    assert terminate_backends(live.ctx.settings.database_url) >= 1
    for _ in range(3):
        try:
            assert await SlotCounter.filter(date="2026-12-01").count() == 1
        except Exception as exc:  # a dead pooled connection may fail one plain query; never all of them
            assert "released back to the pool" not in str(exc)
    assert connections.get("default") is base
    assert await SlotCounter.filter(date="2026-12-01").count() == 1


async def test_terminated_backends_under_load_never_answer_500_nor_poison_keep_alive(live):
    live.ctx.clock.set(MONDAY)
    url = live.url
    starts = ["09:00", "09:30", "10:00", "10:30", "11:00", "14:00", "14:30", "15:00"]
    clients = [httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=1))
               for _ in range(16)]
    people = [await citizen(c) for c in clients]
    statuses: Counter = Counter()
    answers: list[tuple[str, int, dict]] = []
    stop = asyncio.Event()

    async def work(n: int) -> None:
        client, (headers, _) = clients[n], people[n]
        body = {"hall": "center", "business_type": "secondhand_transfer", "date": "2026-11-24",
                "start": starts[n % len(starts)]}
        while not stop.is_set():
            res = await client.post("/api/bookings", json=body, headers=headers)
            statuses[res.status_code] += 1
            if res.status_code in (200, 201):
                booking = res.json()
                answers.append(("booked", booking["id"], booking))
                res = await client.post(f"/api/bookings/{booking['id']}/cancel", headers=headers)
                statuses[res.status_code] += 1
                if res.status_code == 200:
                    answers.append(("cancelled", booking["id"], res.json()))

    async def faults() -> None:
        for _ in range(6):
            await asyncio.sleep(0.3)
            terminate_backends(live.ctx.settings.database_url, wait=False)
        await asyncio.sleep(0.5)
        stop.set()

    try:
        await asyncio.gather(faults(), *(work(n) for n in range(len(clients))))
        assert statuses[500] == 0, statuses
        assert statuses[201] > 20, statuses
        # Every keep-alive connection works after the fault: no request inherits a dead transaction.
        for client, (headers, _) in zip(clients, people, strict=True):
            for _ in range(3):
                res = await client.get("/api/bookings", headers=headers)
                assert res.status_code == 200, res.text
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    # No answer contradicts the database, and no slot is overbooked.
    final = {b.id: b.status for b in await Booking.all()}
    for kind, booking_id, _ in answers:
        assert booking_id in final
        if kind == "cancelled":
            assert final[booking_id] == BookingStatus.CANCELLED
    for counter in await SlotCounter.filter(hall_code="center", date="2026-11-24"):
        active = await Booking.filter(counter_id=counter.id, status__in=("pending", "confirmed")).count()
        assert counter.booked == active <= counter.quota
