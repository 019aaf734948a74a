"""Access rules: the hall rule on cases, staff sessions that follow the account, account management,
notices by their author, every staff write audited with its request id, operator endpoints behind a gate."""

from __future__ import annotations

import asyncio

from models import AuditLog, StaffUser
from server.core.auth import Principal
from server.core.ops import OpsGate
from tests.factories import make_id_number, staff_headers
from tests.progress.conftest import created

RNO = "2024-0426-000777"
PASSWORD = "correct-horse-42"


def code(res) -> str:
    return res.json()["error"]["code"]


async def test_case_reads_follow_the_hall_rule(live, client, ingest):
    await ingest.send(created(RNO, [("张三", make_id_number(seq=31))], hall="center"))
    url = f"/api/staff/cases/{RNO}"
    for role, hall in (("hall_staff", "east"), ("hall_staff", None), ("reviewer", "east"), ("hotline", "east")):
        res = await client.get(url, headers=await staff_headers(client, role=role, hall_code=hall))
        assert (res.status_code, code(res)) == (403, "HALL_FORBIDDEN"), (role, hall)
        assert "张三" not in res.text
    assert await AuditLog.filter(target_type="case").count() == 0
    for role, hall in (("hall_staff", "center"), ("reviewer", None), ("reviewer", "center"), ("admin", None)):
        res = await client.get(url, headers=await staff_headers(client, role=role, hall_code=hall))
        assert res.status_code == 200 and res.json()["applicants"] == [{"name": "张三"}], (role, hall)
    # The audit row carries the request's id (it was always null).
    reviewer = await staff_headers(client, role="reviewer")
    res = await client.get(url, headers={**reviewer, "X-Request-ID": "audit-req-1"})
    assert res.headers["x-request-id"] == "audit-req-1"
    row = await AuditLog.filter(target_type="case").order_by("-id").first()
    assert row.request_id == "audit-req-1"
    assert await AuditLog.filter(target_type="case", request_id__isnull=True).count() == 0


async def test_overdue_list_keeps_a_bound_reviewer_in_their_hall(live, client):
    east_reviewer = await staff_headers(client, role="reviewer", hall_code="east")
    res = await client.get("/api/staff/cases/overdue", params={"hall": "center"}, headers=east_reviewer)
    assert (res.status_code, code(res)) == (403, "HALL_FORBIDDEN")
    res = await client.get("/api/staff/cases/overdue", headers=east_reviewer)
    assert res.status_code == 200 and {g["hall"] for g in res.json()["groups"]} <= {"east"}


async def _login(client, username: str, password: str = PASSWORD):
    return await client.post("/api/staff/login", json={"username": username, "password": password})


async def test_sessions_follow_the_account(live, client, ingest):
    await ingest.send(created(RNO, [("张三", make_id_number(seq=32))], hall="center"))
    admin = await staff_headers(client, username="boss")
    worker = await staff_headers(client, role="hall_staff", hall_code="center", username="wang")
    account_id = (await StaffUser.get(username="wang")).id
    url = f"/api/staff/cases/{RNO}"
    assert (await client.get(url, headers=worker)).status_code == 200

    # Moved to another hall: the very next request uses the new hall.
    res = await client.patch(f"/api/staff/accounts/{account_id}", headers=admin, json={"hall_code": "east"})
    assert res.status_code == 200 and res.json()["hall_code"] == "east"
    assert code(await client.get(url, headers=worker)) == "HALL_FORBIDDEN"
    # A role change too: a publisher may not read cases.
    await client.patch(f"/api/staff/accounts/{account_id}", headers=admin, json={"role": "publisher"})
    assert (await client.get(url, headers=worker)).status_code == 403
    await client.patch(f"/api/staff/accounts/{account_id}", headers=admin, json={"role": "hall_staff",
                                                                               "hall_code": "center"})
    assert (await client.get(url, headers=worker)).status_code == 200
    res = await client.patch(f"/api/staff/accounts/{account_id}", headers=admin, json={"hall_code": "nowhere"})
    assert (res.status_code, code(res)) == (422, "UNKNOWN_HALL")

    # Deactivated: its session stops at once and it cannot log in; reactivated, the old session stays dead.
    res = await client.patch(f"/api/staff/accounts/{account_id}", headers=admin, json={"active": False})
    assert res.status_code == 200 and res.json()["active"] is False
    res = await client.get(url, headers=worker)
    assert (res.status_code, code(res)) == (401, "STAFF_SESSION_REVOKED")
    assert (await _login(client, "wang")).status_code == 401
    await client.patch(f"/api/staff/accounts/{account_id}", headers=admin, json={"active": True})
    assert (await client.get(url, headers=worker)).status_code == 401
    worker = {"Authorization": f"Bearer {(await _login(client, 'wang')).json()['token']}"}
    assert (await client.get(url, headers=worker)).status_code == 200

    # Revoking the account's sessions ends every one of them.
    other = {"Authorization": f"Bearer {(await _login(client, 'wang')).json()['token']}"}
    res = await client.delete(f"/api/staff/accounts/{account_id}/sessions", headers=admin)
    assert res.status_code == 200
    for headers in (worker, other):
        assert code(await client.get("/api/staff/me", headers=headers)) == "STAFF_SESSION_REVOKED"

    # An admin cannot lock themselves out.
    boss_id = (await StaffUser.get(username="boss")).id
    res = await client.patch(f"/api/staff/accounts/{boss_id}", headers=admin, json={"active": False})
    assert (res.status_code, code(res)) == (409, "STAFF_SELF_CHANGE")
    # Only admins manage accounts.
    worker = {"Authorization": f"Bearer {(await _login(client, 'wang')).json()['token']}"}
    assert (await client.patch(f"/api/staff/accounts/{boss_id}", headers=worker, json={"active": False})
            ).status_code == 403
    assert (await client.get("/api/staff/accounts/999999", headers=admin)).status_code == 404


async def test_password_change_and_admin_reset(live, client):
    admin = await staff_headers(client)
    mine = await staff_headers(client, role="reviewer", username="li")
    second = {"Authorization": f"Bearer {(await _login(client, 'li')).json()['token']}"}
    account_id = (await StaffUser.get(username="li")).id

    res = await client.put("/api/staff/me/password", headers=mine,
                           json={"current_password": "wrong-one", "new_password": "new-secret-99"})
    assert (res.status_code, code(res)) == (403, "STAFF_PASSWORD_WRONG")
    res = await client.put("/api/staff/me/password", headers=mine,
                           json={"current_password": PASSWORD, "new_password": "new-secret-99"})
    assert res.status_code == 200
    fresh = {"Authorization": f"Bearer {res.json()['token']}"}
    assert (await client.get("/api/staff/me", headers=fresh)).json()["username"] == "li"
    for old in (mine, second):
        assert (await client.get("/api/staff/me", headers=old)).status_code == 401
    assert (await _login(client, "li")).status_code == 401
    assert (await _login(client, "li", "new-secret-99")).status_code == 200

    res = await client.put(f"/api/staff/accounts/{account_id}/password", headers=admin,
                           json={"new_password": "reset-by-admin-1"})
    assert res.status_code == 200
    assert (await client.get("/api/staff/me", headers=fresh)).status_code == 401
    assert (await _login(client, "li", "reset-by-admin-1")).status_code == 200
    res = await client.put(f"/api/staff/accounts/{account_id}/password", headers=admin, json={"new_password": "short"})
    assert res.status_code == 422


async def test_login_throttle_counts_before_hashing_and_an_admin_lifts_it(live, client):
    admin = await staff_headers(client)
    await staff_headers(client, role="hotline", username="zhao")
    account_id = (await StaffUser.get(username="zhao")).id
    results = await asyncio.gather(*(_login(client, "zhao", f"guess-{i}") for i in range(25)))
    statuses = sorted(r.status_code for r in results)
    limit = live.ctx.settings.staff_login_failures_per_user
    # Exactly `limit` tries reached the password check; the rest were refused before any hashing.
    assert statuses == [401] * limit + [429] * (25 - limit)
    assert {code(r) for r in results if r.status_code == 429} == {"STAFF_LOGIN_LOCKED"}
    locked = await _login(client, "zhao")
    assert (locked.status_code, code(locked)) == (429, "STAFF_LOGIN_LOCKED")
    # Failed logins are audited too.
    assert await AuditLog.filter(action="staff.login.staff_login_failed", target_id="zhao").count() == limit

    res = await client.delete(f"/api/staff/accounts/{account_id}/lockout", headers=admin)
    assert res.status_code == 200
    assert (await _login(client, "zhao")).status_code == 200


async def test_login_throttle_per_address(live, client):
    live.ctx.settings.staff_login_failures_per_ip = 6
    await staff_headers(client, role="hotline", username="qian")
    for i in range(6):
        assert (await _login(client, f"nobody{i}", "x")).status_code == 401
    res = await _login(client, "qian")
    assert (res.status_code, code(res)) == (429, "STAFF_LOGIN_LOCKED")


async def _notice(client, headers, category: str = "business") -> dict:
    res = await client.post("/api/staff/notices", headers=headers, json={
        "title": "系统维护", "body": "周六凌晨系统维护。", "category": category, "audience": "orgs",
        "target": {"types": ["bank"]}, "attachments": []})
    assert res.status_code == 201, res.text
    return res.json()


async def test_notices_belong_to_their_author_and_every_category_is_reviewed(live, client):
    alice = await staff_headers(client, role="publisher")
    bob = await staff_headers(client, role="publisher")
    reviewer = await staff_headers(client, role="reviewer")
    draft = await _notice(client, alice)
    base = f"/api/staff/notices/{draft['id']}"
    for method, path, body in (("PATCH", "", {"title": "改了"}), ("POST", "/submit", {}), ("POST", "/withdraw", {})):
        res = await client.request(method, base + path, headers=bob, json=body)
        assert (res.status_code, code(res)) == (403, "NOTICE_NOT_OWNER"), path
    assert (await client.get(base, headers=bob)).json()["title"] == "系统维护"
    assert (await client.patch(base, headers=alice, json={"title": "系统维护通知"})).status_code == 200
    # "business" and "system" no longer skip review in the shipped configuration.
    for category in ("business", "system"):
        notice = draft if category == "business" else await _notice(client, alice, category)
        res = await client.post(f"/api/staff/notices/{notice['id']}/submit", headers=alice, json={})
        assert res.status_code == 200 and res.json()["status"] == "pending_review", category
    res = await client.post(f"{base}/review", headers=reviewer, json={"decision": "approve"})
    assert res.status_code == 200 and res.json()["status"] in ("approved", "sending", "sent")


async def test_every_staff_write_is_audited_with_its_request_id(live, client):
    admin = await staff_headers(client)
    res = await client.put("/api/staff/halls/south", headers={**admin, "X-Request-ID": "w-1"},
                           json={"review_mode": True})
    assert res.status_code == 200
    row = await AuditLog.get(request_id="w-1")
    assert (row.actor_kind, row.action, row.target_type, row.target_id) == (
        "staff", "write:booking_staff.hall_update", "booking_staff", "south")
    assert row.fields_read == ["review_mode"]
    # A refused write leaves no write row; logins are audited.
    publisher = await staff_headers(client, role="publisher")
    res = await client.put("/api/staff/halls/south", headers={**publisher, "X-Request-ID": "w-2"},
                           json={"review_mode": False})
    assert res.status_code == 403 and not await AuditLog.exists(request_id="w-2")
    assert await AuditLog.filter(action="staff.login").count() == 2


async def test_operator_endpoints_behind_a_token_or_an_address_list(live, client, settings):
    # Open in test/development when nothing is configured …
    assert (await client.get("/metrics")).status_code == 200
    # … closed in production until a token or an address list is configured.
    production = settings.model_copy(update={"env": "production"})
    request = type("R", (), {"headers": {}, "remote_addr": "203.0.113.9", "ip": "203.0.113.9",
                             "path": "/metrics"})()
    assert not OpsGate.from_settings(production).allows(request)
    gate = OpsGate("ops-secret", "10.0.0.0/8, 127.0.0.1")
    assert not gate.allows(request)
    request.headers = {"authorization": "Bearer ops-secret"}
    assert gate.allows(request)
    request.headers, request.remote_addr = {}, "10.1.2.3"
    assert gate.allows(request)
    assert Principal("staff", 1).version is None  # sessions issued before session_version count as version 1


async def test_operator_gate_over_http(settings):
    from pydantic import SecretStr

    from tests.conftest import start_app, stop_app

    settings.ops_token = SecretStr("ops-secret")
    app, server = await start_app(settings, seed=False)
    try:
        for path in ("/metrics", "/docs", "/docs/openapi.json"):
            res = await app.http.get(path)
            assert (res.status_code, code(res)) == (403, "OPS_FORBIDDEN"), path
            res = await app.http.get(path, headers={"X-Ops-Token": "ops-secret"})
            assert res.status_code == 200, path
        assert (await app.http.get("/healthz")).status_code == 200
    finally:
        await stop_app(app, server)
