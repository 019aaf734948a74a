"""Account management in the console (issue 11's service functions) and console sessions that follow the
account exactly like API sessions: disable/enable, role and hall changes, admin password reset, revoking
sessions, the login throttle and lifting its lock-out; console writes audited like API writes."""

from __future__ import annotations

import httpx

from models import AuditLog, StaffUser
from tests.console.conftest import PASSWORD, Console, console_login, csrf_of, make_staff


async def _login(live, username: str, password: str = PASSWORD) -> tuple[httpx.AsyncClient, httpx.Response]:
    http = httpx.AsyncClient(base_url=live.url, timeout=30)
    form = csrf_of((await http.get("/console/login")).text)
    res = await http.post("/console/login", data={"username": username, "password": password, "csrf": form})
    return http, res


async def _both(live, client, username: str) -> tuple[Console, dict]:
    """The same account signed in to the console and to the API."""
    http, res = await _login(live, username)
    assert res.status_code == 302
    console = Console(http, csrf_of((await http.get("/console/password")).text))
    api = await client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    return console, {"authorization": f"Bearer {api.json()['token']}"}


def _signed_out(res: httpx.Response) -> bool:
    return res.status_code == 302 and res.headers["location"].startswith("/console/login")


async def test_disable_enable_follow_on_the_next_request_console_and_api(live, client):
    admin = await console_login(live, "admin")
    name = await make_staff("reviewer")
    user = await StaffUser.get(username=name)
    console, api = await _both(live, client, name)
    assert (await console.get("/console/review")).status_code == 200
    page = await admin.get(f"/console/staff/{user.id}")
    assert page.status_code == 200 and name in page.text and "停用账号" in page.text
    res = await admin.post(f"/console/staff/{user.id}/disable")
    assert res.status_code == 302 and not (await StaffUser.get(id=user.id)).active
    assert _signed_out(await console.get("/console/review"))
    assert (await client.get("/api/staff/me", headers=api)).json()["error"]["code"] == "STAFF_SESSION_REVOKED"
    _, res = await _login(live, name)
    assert res.status_code == 401  # a disabled account cannot sign in
    await admin.post(f"/console/staff/{user.id}/enable")
    http, res = await _login(live, name)
    assert res.status_code == 302
    await http.aclose()
    await console.aclose()
    await admin.aclose()


async def test_role_and_hall_changes_take_effect_on_the_next_page(live, client):
    admin = await console_login(live, "admin")
    name = await make_staff("hall_staff", "center")
    user = await StaffUser.get(username=name)
    console, api = await _both(live, client, name)
    assert (await console.get("/console/halls/center/desk")).status_code == 200
    res = await admin.post(f"/console/staff/{user.id}/update",
                           {"display_name": "改名", "role": "hall_staff", "hall_code": "nowhere"})
    assert res.status_code == 422 and 'id="e-hall_code"' in res.text and "大厅不存在" in res.text
    res = await admin.post(f"/console/staff/{user.id}/update",
                           {"display_name": "改名", "role": "hall_staff", "hall_code": "east"})
    assert res.status_code == 302
    assert (await console.get("/console/halls/center/desk")).status_code == 403
    assert (await console.get("/console/halls/east/desk")).status_code == 200
    assert (await client.get("/api/staff/me", headers=api)).json()["hall_code"] == "east"
    await admin.post(f"/console/staff/{user.id}/update", {"display_name": "改名", "role": "reviewer", "hall_code": ""})
    assert (await console.get("/console/review")).status_code == 200
    assert (await console.get("/console/halls/east/desk")).status_code == 403
    await console.aclose()
    await admin.aclose()


async def test_password_reset_and_revoking_sessions(live, client):
    admin = await console_login(live, "admin")
    name = await make_staff("publisher")
    user = await StaffUser.get(username=name)
    console, api = await _both(live, client, name)
    res = await admin.post(f"/console/staff/{user.id}/password", {"new_password": "short"})
    assert res.status_code == 422 and 'id="e-new_password"' in res.text
    res = await admin.post(f"/console/staff/{user.id}/password", {"new_password": "reset-by-admin-7"})
    assert res.status_code == 302
    assert _signed_out(await console.get("/console/notices/"))
    assert (await client.get("/api/staff/me", headers=api)).status_code == 401
    _, res = await _login(live, name)
    assert res.status_code == 401
    http, res = await _login(live, name, "reset-by-admin-7")
    assert res.status_code == 302 and (await http.get("/console/notices/")).status_code == 200
    await admin.post(f"/console/staff/{user.id}/sessions")
    assert _signed_out(await http.get("/console/notices/"))
    await http.aclose()
    await console.aclose()
    await admin.aclose()


async def test_console_login_is_throttled_and_an_admin_lifts_the_lock(live, client):
    name = await make_staff("hotline")
    user = await StaffUser.get(username=name)
    limit = live.app.ctx.settings.staff_login_failures_per_user
    for _ in range(limit):
        _, res = await _login(live, name, "wrong-password")
        assert res.status_code == 401
    _, res = await _login(live, name)  # the right password, but locked: counted before hashing
    assert res.status_code == 429 and "账号已暂时锁定" in res.text
    # The API's login shares the same count.
    res = await client.post("/api/staff/login", json={"username": name, "password": PASSWORD})
    assert res.status_code == 429
    admin = await console_login(live, "admin")
    res = await admin.post(f"/console/staff/{user.id}/lockout")
    assert res.status_code == 302
    http, res = await _login(live, name)
    assert res.status_code == 302
    await http.aclose()
    assert await AuditLog.filter(action="staff.login.staff_login_failed", target_id=name).count() == limit
    await admin.aclose()


async def test_console_writes_are_audited_like_api_writes_and_self_changes_refused(live, client):
    admin = await console_login(live, "admin")
    me = await StaffUser.filter(role="admin").order_by("-id").first()
    res = await admin.post("/console/staff", {"username": "audited.one", "display_name": "审计",
                                              "password": "long-enough-1", "role": "reviewer"})
    assert res.status_code == 200
    row = await AuditLog.filter(action="write:console_admin.create_staff").order_by("-id").first()
    assert row is not None and row.actor_id == str(me.id) and row.request_id
    assert {"username", "display_name", "password", "role"} <= set(row.fields_read) and "csrf" not in row.fields_read
    res = await admin.post(f"/console/staff/{me.id}/disable")
    assert res.status_code == 409 and "不能停用自己的账号" in res.text and (await StaffUser.get(id=me.id)).active
    # A refused write leaves no audit row.
    assert not await AuditLog.filter(action="write:console_admin.account_action", target_id=str(me.id)).exists()
    other = await StaffUser.get(username="audited.one")
    await admin.post(f"/console/staff/{other.id}/sessions")
    assert await AuditLog.filter(action="write:console_admin.account_action", target_id=str(other.id)).exists()
    await admin.aclose()
