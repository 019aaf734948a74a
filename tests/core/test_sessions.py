"""Sessions: a worker may remember a citizen session, but never past its expiry; staff logout is immediate."""

from __future__ import annotations

import asyncio

from tests.conftest import start_app, stop_app
from tests.factories import login_citizen, staff_headers


async def test_citizen_session_expires_even_when_remembered_by_the_worker(settings):
    live, server = await start_app(settings.model_copy(update={"citizen_session_ttl_seconds": 1}))
    try:
        headers = {"Authorization": f"Bearer {await login_citizen(live.http)}"}
        assert (await live.http.get("/api/bookings", headers=headers)).status_code == 200
        await asyncio.sleep(1.3)
        res = await live.http.get("/api/bookings", headers=headers)
        assert res.status_code == 401, res.text
        assert res.json()["error"]["code"] == "UNAUTHORIZED"
    finally:
        await stop_app(live, server)


async def test_a_session_works_in_every_worker_and_staff_logout_ends_it_everywhere(live, settings, client):
    other, server = await start_app(settings)  # a second worker on the same database and Redis
    try:
        citizen = {"Authorization": f"Bearer {await login_citizen(client)}"}
        assert (await other.http.get("/api/bookings", headers=citizen)).status_code == 200
        assert (await other.http.get("/api/bookings", headers={"Authorization": "Bearer nope"})).status_code == 401

        staff = await staff_headers(client)
        assert (await other.http.get("/api/staff/accounts", headers=staff)).status_code == 200
        assert (await client.post("/api/staff/logout", headers=staff)).status_code in (200, 204)
        assert (await other.http.get("/api/staff/accounts", headers=staff)).status_code == 401
        assert (await client.get("/api/staff/accounts", headers=staff)).status_code == 401
    finally:
        await stop_app(other, server)
