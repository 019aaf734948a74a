"""Hall desk over HTTP: check-in by code and by ID number, the queue, walk-ins, errors by field, hall scope."""

from models import AuditLog, Booking, QueueTicket
from tests.booking.conftest import at, book, citizen
from tests.console.conftest import console_login


async def test_checkin_queue_and_walk_in(live, client, clock):
    people = [await citizen(client) for _ in range(2)]
    bookings = [(await book(client, h, hall="center", start="10:00")).json() for h, _ in people]
    clock.set(at(24, 9, 45))
    desk = await console_login(live, "hall_staff", "center")
    page = await desk.get("/console/halls/center/desk")
    assert page.status_code == 200 and bookings[0]["code"] in page.text and people[0][1] not in page.text
    # Scanned QR payload + ID number.
    res = await desk.post("/console/halls/center/checkin", {"code": "DJBK:" + bookings[0]["code"],
                                                             "id_number": people[0][1]})
    assert res.status_code == 200 and "签到成功" in res.text and "排队号 001" in res.text
    assert people[0][1] not in res.text and people[0][1][:4] + "**" in res.text
    # By ID number alone.
    res = await desk.post("/console/halls/center/checkin", {"id_number": people[1][1]})
    assert "排队号 002" in res.text
    # Bad input: the API's messages, next to the field; nothing changed.
    res = await desk.post("/console/halls/center/checkin", {"code": bookings[1]["code"]})
    assert res.status_code == 422 and 'id="e-id_number"' in res.text and "签到须核验申请人身份证号" in res.text
    res = await desk.post("/console/halls/center/checkin", {"id_number": "123"})
    assert res.status_code == 422 and 'id="e-id_number"' in res.text
    res = await desk.post("/console/halls/center/walkin", {"business_type": "change"})
    assert res.status_code == 422 and 'id="e-channel"' in res.text
    assert await QueueTicket.filter(hall_code="center").count() == 2
    res = await desk.post("/console/halls/center/walkin", {"business_type": "mortgage_first",
                                                            "channel": "personal_guarantee_mortgage"})
    assert res.status_code == 200 and "排队号 003" in res.text
    live_part = await desk.get("/console/halls/center/queue", headers={"HX-Request": "true"})
    assert live_part.text.lstrip().startswith('<div id="queue-live"') and 'id="waiting-total">3<' in live_part.text
    assert "<td>二手房转移登记（存量房买卖过户）</td><td>2</td>" in live_part.text
    # The queue: call, recall, skip, next, done; counts per business type.
    res = await desk.post("/console/halls/center/queue/next", {"window": "3"})
    assert "请 001 号到 3 号窗口" in res.text
    first = await QueueTicket.get(number=1, hall_code="center")
    assert first.status == "called" and first.window == "3" and first.called_at is not None
    res = await desk.post(f"/console/halls/center/queue/{first.id}/recall", {"window": "3"})
    assert "001 号已重呼" in res.text and (await QueueTicket.get(id=first.id)).calls == 2
    res = await desk.post("/console/halls/center/queue/next", {"window": "3"})
    assert "请 002 号到 3 号窗口" in res.text
    assert (await QueueTicket.get(id=first.id)).status == "done"  # the window's previous visitor finished
    second = await QueueTicket.get(number=2, hall_code="center")
    res = await desk.post(f"/console/halls/center/queue/{second.id}/skip", {"window": "3"})
    assert (await QueueTicket.get(id=second.id)).status == "skipped"
    res = await desk.post("/console/halls/center/queue/next", {"window": ""})
    assert res.status_code == 422 and "请填写窗口号" in res.text
    res = await desk.post("/console/halls/center/queue/next", {"window": "2"}, headers={"HX-Request": "true"})
    assert res.status_code == 200 and res.text.lstrip().startswith("<section") and "请 003 号到 2 号窗口" in res.text
    res = await desk.post("/console/halls/center/queue/next", {"window": "2"})
    assert res.status_code == 409 and "当前没有等候的号码" in res.text
    assert await AuditLog.filter(target_type="booking").count() >= 2
    await desk.aclose()


async def test_hall_scope_csrf_and_roles(live, client, clock):
    headers, id_number = await citizen(client)
    booking = (await book(client, headers, hall="center", start="10:00")).json()
    clock.set(at(24, 9, 45))
    other = await console_login(live, "hall_staff", "east")
    assert (await other.get("/console/desk")).headers["location"] == "/console/halls/east/desk"
    res = await other.get("/console/halls/center/desk")
    assert res.status_code == 403 and "只能处理本大厅的业务" in res.text
    res = await other.post("/console/halls/center/checkin", {"id_number": id_number})
    assert res.status_code == 403
    assert (await Booking.get(code=booking["code"])).status == "confirmed"
    res = await other.http.post("/console/halls/east/walkin", data={"business_type": "change", "csrf": "forged"})
    assert res.status_code == 403 and "页面已过期" in res.text
    assert (await other.get("/console/staff")).status_code == 403
    anonymous = await client.get("/console/halls/east/desk")
    assert anonymous.status_code == 302 and anonymous.headers["location"].startswith("/console/login")
    await other.aclose()
