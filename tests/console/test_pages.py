"""Console pages over HTTP: sign-in, password, logout, idle timeout; review, hotline, cases, staff, calendar."""

import uuid

import pytest

from models import AuditLog, Booking, CalendarDay, StaffUser
from server.console import session as console_session
from server.progress import service as progress
from tests.booking.conftest import at, book, citizen
from tests.console.conftest import PASSWORD, console_login, csrf_of, make_staff
from tests.factories import make_id_number, staff_headers
from tests.progress.conftest import Ingest, created


async def test_login_logout_password_and_idle_timeout(live, client):
    username = await make_staff("reviewer")
    res = await client.post("/console/login", data={"username": username, "password": PASSWORD})
    assert res.status_code == 403 and "页面已过期" in res.text  # no login-form token: refused
    form = csrf_of((await client.get("/console/login")).text)
    res = await client.post("/console/login", data={"username": username, "password": "wrong-password",
                                                    "csrf": form})
    assert res.status_code == 401 and "用户名或密码错误" in res.text and 'id="e-password"' in res.text
    form = csrf_of(res.text)
    res = await client.post("/console/login", data={"username": "", "password": "", "csrf": form})
    assert res.status_code == 422 and 'id="e-username"' in res.text
    res = await client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                    "csrf": csrf_of(res.text), "next": "https://evil.example/"})
    assert res.status_code == 302 and res.headers["location"] == "/console/"
    cookie = next(c for c in res.headers.get_list("set-cookie") if c.startswith("dengji_staff=")).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    client.cookies.clear()
    console = await console_login(live, "reviewer")
    console_user = (await StaffUser.all().order_by("-id").first()).username
    home = await console.get("/console/")
    assert home.status_code == 200 and "预约审核" in home.text and "人员与审计" not in home.text
    res = await console.post("/console/password", {"old_password": "nope-nope", "new_password": "another-pass-9"})
    assert res.status_code == 403 and 'id="e-old_password"' in res.text and "当前密码不正确" in res.text
    res = await console.post("/console/password", {"old_password": PASSWORD, "new_password": "short"})
    assert res.status_code == 422 and 'id="e-new_password"' in res.text
    other = await client.post("/api/staff/login", json={"username": console_user, "password": PASSWORD})
    other = {"authorization": f"Bearer {other.json()['token']}"}
    res = await console.post("/console/password", {"old_password": PASSWORD, "new_password": "another-pass-9"})
    assert res.status_code == 302  # the one change-password service of PUT /api/staff/me/password
    page = await console.get(res.headers["location"])
    assert page.status_code == 200 and "密码已修改" in page.text  # this console session was renewed...
    assert (await client.get("/api/staff/me", headers=other)).status_code == 401  # ...the others ended
    console.csrf = csrf_of(page.text)
    res = await console.post("/console/logout")
    assert res.status_code == 302
    assert (await console.get("/console/")).headers["location"].startswith("/console/login")
    # Idle timeout: once the console's record is gone the session ends, even if the staff session lived on.
    again = await console_login(live, "reviewer")
    token = again.http.cookies.get(console_session.COOKIE)
    await live.ctx.redis.delete(console_session._key(live.app, token))
    res = await again.get("/console/review")
    assert res.status_code == 302 and "/console/login" in res.headers["location"]
    await console.aclose()
    await again.aclose()


async def test_review_queue_confirm_and_decline(live, client, clock):
    admin = await staff_headers(client)
    await client.put("/api/staff/halls/west", headers=admin, json={"review_mode": True})
    a, a_id = await citizen(client, name="王小明")
    b, _ = await citizen(client)
    first = (await book(client, a, hall="west")).json()
    second = (await book(client, b, hall="west")).json()
    reviewer = await console_login(live, "reviewer")
    page = await reviewer.get("/console/review")
    assert first["code"] in page.text and second["code"] in page.text and a_id not in page.text and "王*" in page.text
    res = await reviewer.post(f"/console/review/{second['id']}/decline", {"reason": ""})
    assert res.status_code == 422 and "内容过短" in res.text  # the API says the same for ""
    assert (await Booking.get(id=second["id"])).status == "pending"
    res = await reviewer.post(f"/console/review/{first['id']}/confirm")
    assert "已确认" in res.text and (await Booking.get(id=first["id"])).status == "confirmed"
    res = await reviewer.post(f"/console/review/{second['id']}/decline", {"reason": "材料不全"})
    assert (await Booking.get(id=second["id"])).status == "declined"
    res = await reviewer.post(f"/console/review/{second['id']}/decline", {"reason": "再次"})
    assert res.status_code == 409 and "该预约不在待确认状态" in res.text
    await reviewer.aclose()


async def test_hotline_books_finds_and_cancels(live, client, clock):
    clock.set(at(23, 9, 30))  # the hotline answers 9:00–17:00 on working days (center.yaml)
    hotline = await console_login(live, "hotline")
    _, id_number = await citizen(client)
    form = {"name": "赵六", "id_number": id_number, "mobile": "13900001111", "hall": "south",
            "business_type": "change", "date": "2026-11-24", "start": "09:00", "idempotency_key": uuid.uuid4().hex}
    res = await hotline.post("/console/hotline/book", form | {"mobile": "123"})
    assert res.status_code == 422 and 'id="e-mobile"' in res.text and await Booking.all().count() == 0
    res = await hotline.post("/console/hotline/book", form)
    assert res.status_code == 200 and "已为来电人预约" in res.text
    again = await hotline.post("/console/hotline/book", form)  # a double click: the same booking
    assert again.status_code == 200 and await Booking.all().count() == 1
    booking = await Booking.get()
    assert booking.channel == "hotline"
    found = await hotline.post("/console/hotline/find", {"id_number": id_number})  # by POST: not in any URL
    assert booking.code in found.text and id_number not in found.text
    res = await hotline.post(f"/console/hotline/{booking.id}/cancel")
    assert "已取消" in res.text and (await Booking.get(id=booking.id)).status == "cancelled"
    assert (await hotline.get("/console/review")).status_code == 403
    await hotline.aclose()


async def test_cases_overdue_and_audited_detail(live, client):
    key, secret = await progress.create_client(cipher=live.ctx.cipher, name=f"bdc-{uuid.uuid4().hex[:6]}")
    ingest = Ingest(client, key.key_id, secret)
    await ingest.send(created("2026-0930-000123", [("张三丰", make_id_number(seq=105))],
                              business_type="mortgage_first"))
    reviewer = await console_login(live, "reviewer")
    page = await reviewer.get("/console/cases")
    assert page.status_code == 200 and "2026-0930-000123" in page.text and "中心大厅" in page.text
    before = await AuditLog.filter(target_type="case").count()
    res = await reviewer.post("/console/cases/lookup", {"receipt_no": "2026-0930-000123"})
    detail = await reviewer.get(res.headers["location"])
    assert detail.status_code == 200 and "张三丰" in detail.text and "受理" in detail.text
    assert await AuditLog.filter(target_type="case").count() == before + 1
    missing = await reviewer.get("/console/cases/2026-0930-999999")
    assert missing.status_code == 404 and "办件不存在" in missing.text
    await reviewer.aclose()


async def test_staff_accounts_and_audit_filters(live, client):
    admin = await console_login(live, "admin")
    res = await admin.post("/console/staff", {"username": "x", "display_name": "", "password": "short", "role": "boss"})
    assert res.status_code == 422 and all(f'id="e-{f}"' in res.text for f in ("username", "password", "role"))
    count = await StaffUser.all().count()
    res = await admin.post("/console/staff", {"username": "desk.east", "display_name": "城东窗口",
                                              "password": "long-enough-1", "role": "hall_staff", "hall_code": "east"})
    assert res.status_code == 200 and "已创建账号 desk.east" in res.text
    assert await StaffUser.all().count() == count + 1
    res = await admin.post("/console/staff", {"username": "desk.east", "display_name": "重复",
                                              "password": "long-enough-1", "role": "hall_staff"})
    assert res.status_code == 409 and 'id="e-username"' in res.text and "用户名已存在" in res.text
    await AuditLog.create(actor_kind="staff", actor_id="999", action="pii.read", target_type="booking",
                          target_id="42", fields_read=["name"])
    await AuditLog.create(actor_kind="staff", actor_id="998", action="pii.read", target_type="case",
                          target_id="2026-0930-000001", fields_read=["applicants.name"])
    page = await admin.get("/console/staff", params={"target_type": "case"})
    assert "2026-0930-000001" in page.text and "booking 42" not in page.text
    page = await admin.get("/console/staff", params={"actor_id": "999"})
    assert "booking 42" in page.text and "2026-0930-000001" not in page.text
    await admin.aclose()


@pytest.mark.parametrize("kind", ["closure"])
async def test_calendar_closure_shows_touched_bookings_first(live, client, clock, kind):
    headers, _ = await citizen(client)
    assert (await book(client, headers, hall="north", date="2026-11-25")).status_code == 201
    admin = await console_login(live, "admin")
    form = {"date": "2026-11-25", "kind": kind, "name": "设备检修", "halls": "north"}
    res = await admin.post("/console/calendar", form)
    assert res.status_code == 200 and 'id="touched"' in res.text and "城北大厅 2026-11-25 09:00 1 个" in res.text
    assert await CalendarDay.filter(name="设备检修").count() == 0
    res = await admin.post("/console/calendar", form | {"confirm": "1"})
    assert "已添加" in res.text and await CalendarDay.filter(name="设备检修").count() == 1
    assert "已为中心取消 1 个预约" in res.text  # like POST /api/staff/calendar: cancelled for the center
    assert (await Booking.get(hall_code="north", date="2026-11-25")).status == "center_cancelled"
    res = await admin.post("/console/calendar", {"date": "2026-11-30", "kind": "workday", "name": "调休"})
    assert res.status_code == 422 and 'id="e-kind"' in res.text and "调休上班日只能是周六或周日" in res.text
    res = await admin.post("/console/calendar", {"date": "2026-13-01", "kind": "extra", "name": "x"})
    assert res.status_code == 422 and 'id="e-date"' in res.text
    res = await admin.post("/console/calendar/quota", {"hall": "north", "day": "2026-11-24", "start": "09:00",
                                                        "quota": "3", "hotline_quota": "5"})
    api = await client.put("/api/staff/halls/north/slots/2026-11-24/09:00", json={"quota": 3, "hotline_quota": 5},
                           headers=await staff_headers(client))
    assert res.status_code == 422 and api.json()["error"]["message"] in res.text  # the API's message
    res = await admin.post("/console/calendar/quota", {"hall": "north", "day": "2026-11-24", "start": "09:00",
                                                        "quota": "12", "hotline_quota": "2"})
    assert res.status_code == 200 and "线上 10、电话 2" in res.text
    assert 'id="quota-view"' in res.text and "<td>09:00–09:30</td><td>10 / 10</td><td>2 / 2</td>" in res.text
    view = await admin.get("/console/calendar", params={"hall": "north", "day": "2026-11-25"})
    assert "城北大厅 2026-11-25 各时段号源" in view.text and "该日不对外服务" in view.text  # the closure above
    res = await admin.post("/console/calendar/quota", {"hall": "north", "day": "2026-11-24", "start": "12:30",
                                                        "quota": "5"})
    assert res.status_code == 422 and 'id="e-start"' in res.text
    await admin.aclose()


async def test_every_page_refuses_the_wrong_role(live):
    """Each console page answers 403 to a role outside its list (server-side, not just hidden links)."""
    expected = {"/console/desk": "hall_staff", "/console/review": "reviewer", "/console/hotline": "hotline",
                "/console/cases": "reviewer", "/console/notices/": "publisher", "/console/kb/": "publisher",
                "/console/figures/": "reviewer", "/console/calendar": "admin", "/console/staff": "admin"}
    consoles = {role: await console_login(live, role, "center" if role == "hall_staff" else None)
                for role in ("hall_staff", "reviewer", "hotline", "publisher")}
    for path, allowed in expected.items():
        for role, console in consoles.items():
            res = await console.get(path)
            ok = role == allowed or (role == "reviewer" and path == "/console/notices/")
            assert (res.status_code in (200, 302)) == ok, (path, role, res.status_code)
    for console in consoles.values():
        await console.aclose()
