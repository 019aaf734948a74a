"""Staff flows: channel quotas, 加号, review mode, calendar edits, check-in, walk-ins, figures, audit, scopes."""

from models import AuditLog, Booking
from server.booking import scheduled
from tests.booking.conftest import at, book, citizen, error_code
from tests.factories import staff_headers


async def _hotline_book(client, headers, id_number, **extra):
    body = {"name": "王五", "id_number": id_number, "mobile": "13900002222", "hall": "south",
            "business_type": "change", "date": "2026-11-24", "start": "09:00"} | extra
    return await client.post("/api/staff/bookings", headers=headers, json=body)


async def test_channel_quotas_are_separate(client, clock):
    clock.set(at(23, 9, 30))  # the hotline answers 9:00–17:00 on working days (center.yaml)
    admin = await staff_headers(client)
    res = await client.put("/api/staff/halls/south/slots/2026-11-24/09:00", headers=admin,
                           json={"quota": 2, "hotline_quota": 1})
    assert res.status_code == 200
    a, _ = await citizen(client)
    b, b_id = await citizen(client)
    assert (await book(client, a, hall="south")).status_code == 201
    res = await book(client, b, hall="south")
    assert res.status_code == 409 and error_code(res) == "SLOT_FULL"
    hotline = await staff_headers(client, role="hotline")
    view = (await client.get("/api/halls/south/slots?date=2026-11-24", headers=hotline)).json()
    assert view["channel"] == "hotline" and view["slots"][0]["hotline"]["remaining"] == 1
    assert view["slots"][0]["online"]["remaining"] == 0
    res = await _hotline_book(client, hotline, b_id)
    assert res.status_code == 201 and res.json()["channel"] == "hotline"
    assert error_code(await _hotline_book(client, hotline, (await citizen(client))[1])) == "SLOT_FULL"
    reviewer = await staff_headers(client, role="reviewer")
    assert (await _hotline_book(client, reviewer, b_id)).status_code == 403


async def test_lowering_a_quota_keeps_bookings_and_raising_adds_places(client, clock):
    admin = await staff_headers(client)
    people = [await citizen(client) for _ in range(3)]
    for headers, _ in people:
        assert (await book(client, headers, hall="north")).status_code == 201
    res = await client.put("/api/staff/halls/north/slots/2026-11-24/09:00", headers=admin,
                           json={"quota": 1, "hotline_quota": 0})
    assert res.status_code == 200 and res.json()["online"] == {"quota": 1, "booked": 3, "remaining": 0}
    assert await Booking.filter(status="confirmed").count() == 3
    newcomer, _ = await citizen(client)
    assert error_code(await book(client, newcomer, hall="north")) == "SLOT_FULL"
    await client.put("/api/staff/halls/north/slots/2026-11-24/09:00", headers=admin, json={"quota": 5})
    slot = (await client.get("/api/halls/north/slots?date=2026-11-24")).json()["slots"][0]
    assert slot["remaining"] == 2
    assert (await book(client, newcomer, hall="north")).status_code == 201
    res = await client.put("/api/staff/halls/north/slots/2026-11-24/12:30", headers=admin, json={"quota": 5})
    assert res.status_code == 422 and error_code(res) == "SLOT_NOT_FOUND"
    res = await client.put("/api/staff/halls/north/slots/2026-11-24/09:00", headers=admin,
                           json={"quota": 1, "hotline_quota": 2})
    assert res.status_code == 422


async def test_hall_settings_change_quotas_of_untouched_future_slots(client, clock):
    admin = await staff_headers(client)
    headers, _ = await citizen(client)
    assert (await book(client, headers, hall="east")).status_code == 201
    res = await client.put("/api/staff/halls/east", headers=admin, json={"quota_per_slot": 10, "hotline_quota": 2})
    assert res.status_code == 200 and res.json()["online_quota"] == 8
    slots = (await client.get("/api/halls/east/slots?date=2026-11-24")).json()["slots"]
    assert slots[0]["online"]["quota"] == 8 and slots[0]["remaining"] == 7 and slots[1]["remaining"] == 8
    res = await client.put("/api/staff/halls/east", headers=admin, json={"hotline_quota": 20})
    assert res.status_code == 422 and error_code(res) == "HOTLINE_QUOTA_TOO_LARGE"
    hall_staff = await staff_headers(client, role="hall_staff", hall_code="east")
    assert (await client.put("/api/staff/halls/east", headers=hall_staff, json={})).status_code == 403


async def test_review_mode_confirm_and_decline_with_messages(client, live, clock, fake_wechat):
    admin = await staff_headers(client)
    assert (await client.put("/api/staff/halls/west", headers=admin, json={"review_mode": True})).status_code == 200
    a, _ = await citizen(client, code="review-a")
    b, _ = await citizen(client, code="review-b")
    for code in ("review-a", "review-b"):  # each tapped 允许 for the review message when booking
        fake_wechat.accept_subscription(fake_wechat.openid_for(code), "tmpl-booking-review")
    first = (await book(client, a, hall="west", subscribe=True)).json()
    second = (await book(client, b, hall="west", subscribe=True)).json()
    assert first["status"] == second["status"] == "pending" and first["status_text"] == "待确认"
    reviewer = await staff_headers(client, role="reviewer")
    pending = (await client.get("/api/staff/bookings?status=pending", headers=reviewer)).json()["items"]
    assert {p["id"] for p in pending} == {first["id"], second["id"]}
    assert all("*" in p["id_number"] and "*" in p["name"] for p in pending)
    res = await client.post(f"/api/staff/bookings/{first['id']}/confirm", headers=reviewer, json={})
    assert res.status_code == 200 and res.json()["status"] == "confirmed"
    res = await client.post(f"/api/staff/bookings/{second['id']}/decline", headers=reviewer,
                            json={"reason": "应急响应期间建议延期办理"})
    assert res.status_code == 200 and res.json()["status"] == "declined"
    assert (await client.post(f"/api/staff/bookings/{second['id']}/decline", headers=reviewer,
                              json={"reason": "x"})).status_code == 409
    await live.ctx.jobs.drain()
    # With Redis the jobs wait for an arq worker: run them here; a job that already ran sends nothing again.
    for booking in (first, second):
        await scheduled.notify_review(live.ctx.job_ctx, booking_id=booking["id"])
    sent = fake_wechat.sent("subscribe")
    assert len(sent) == 2
    assert {s["template_id"] for s in sent} == {"tmpl-booking-review"}
    results = sorted(s["data"]["phrase3"]["value"] for s in sent)
    assert results == ["已确认", "未通过"]
    slot = (await client.get("/api/halls/west/slots?date=2026-11-24")).json()["slots"][0]
    assert slot["remaining"] == 15  # 16 online places, the declined one returned
    hotline = await staff_headers(client, role="hotline")
    res = await client.post(f"/api/staff/bookings/{first['id']}/confirm", headers=hotline, json={})
    assert res.status_code == 403
    assert await AuditLog.filter(target_type="booking", target_id=str(first["id"])).count() >= 2


async def test_calendar_edits_change_the_slots(client, clock):
    admin = await staff_headers(client)
    res = await client.post("/api/staff/calendar", headers=admin,
                            json={"date": "2026-11-29", "kind": "extra", "name": "周末临时加开服务窗口",
                                  "halls": ["east"], "sessions": [{"start": "09:00", "end": "12:00"}]})
    assert res.status_code == 201, res.text
    extra_id = res.json()["id"]
    slots = (await client.get("/api/halls/east/slots?date=2026-11-29")).json()
    assert slots["open"] and len(slots["slots"]) == 6
    res = await client.post("/api/staff/calendar", headers=admin,
                            json={"date": "2026-11-25", "kind": "closure", "name": "系统升级", "halls": ["south"]})
    assert res.status_code == 201
    headers, _ = await citizen(client)
    assert error_code(await book(client, headers, hall="south", date="2026-11-25")) == "HALL_CLOSED"
    res = await client.post("/api/staff/calendar", headers=admin,
                            json={"date": "2026-11-26", "kind": "holiday", "name": "临时假日"})
    assert res.status_code == 201
    assert (await client.get("/api/halls/center/slots?date=2026-11-26")).json()["slots"] == []
    res = await client.post("/api/staff/calendar", headers=admin,
                            json={"date": "2026-11-26", "kind": "workday", "name": "调休"})
    assert res.status_code == 422
    assert (await client.delete(f"/api/staff/calendar/{extra_id}", headers=admin)).status_code == 200
    assert (await client.get("/api/halls/east/slots?date=2026-11-29")).json()["open"] is False
    listed = (await client.get("/api/staff/calendar?from=2026-11-20&to=2026-11-30", headers=admin)).json()
    assert {d["kind"] for d in listed["items"]} == {"closure", "holiday"}


async def test_check_in_window_queue_numbers_and_hall_scope(client, clock):
    people = [await citizen(client) for _ in range(3)]
    bookings = [(await book(client, h, hall="center", start="10:00")).json() for h, _ in people]
    desk = await staff_headers(client, role="hall_staff", hall_code="center")
    clock.set(at(24, 9, 29))
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": people[0][1]})
    assert res.status_code == 422 and error_code(res) == "CHECKIN_TOO_EARLY"
    clock.set(at(24, 9, 30))
    res = await client.post("/api/staff/checkin", headers=desk,
                            json={"hall": "center", "code": bookings[0]["code"], "id_number": people[0][1]})
    assert res.status_code == 200 and res.json()["queue_no"] == "001" and res.json()["already"] is False
    assert "*" in res.json()["booking"]["id_number"]
    res = await client.post("/api/staff/checkin", headers=desk,
                            json={"hall": "center", "code": bookings[0]["code"], "id_number": people[1][1]})
    assert res.status_code == 404  # the code is bound to the real name
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "code": bookings[1]["code"]})
    assert res.status_code == 422 and error_code(res) == "ID_NUMBER_REQUIRED"
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": people[1][1]})
    assert res.json()["queue_no"] == "002"
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": people[0][1]})
    assert res.json()["queue_no"] == "001" and res.json()["already"] is True
    clock.set(at(24, 10, 30))
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": people[2][1]})
    assert res.status_code == 422 and error_code(res) == "CHECKIN_TOO_LATE"
    other = await staff_headers(client, role="hall_staff", hall_code="east")
    res = await client.post("/api/staff/checkin", headers=other, json={"hall": "center", "id_number": people[2][1]})
    assert res.status_code == 403 and error_code(res) == "HALL_FORBIDDEN"
    res = await client.get("/api/staff/bookings?hall=center", headers=other)
    assert res.status_code == 403
    own = (await client.get("/api/staff/bookings", headers=other)).json()["items"]
    assert own == []
    assert await AuditLog.filter(target_type="booking").count() >= 3


async def test_walk_ins_and_daily_figures(client, live, clock):
    desk = await staff_headers(client, role="hall_staff", hall_code="center")
    clock.set(at(24, 9, 0))
    people = [await citizen(client) for _ in range(3)]
    clock.set(at(23, 9, 0))
    for headers, _ in people:
        assert (await book(client, headers, date="2026-11-24", start="10:00")).status_code == 201
    first = (await client.get("/api/bookings", headers=people[0][0])).json()["items"][0]
    await client.post(f"/api/bookings/{first['id']}/cancel", headers=people[0][0])
    clock.set(at(24, 9, 40))
    res = await client.post("/api/staff/walkins", headers=desk, json={"hall": "center", "business_type": "seizure"})
    assert res.status_code == 201 and res.json()["queue_no"] == "001"
    res = await client.post("/api/staff/walkins", headers=desk,
                            json={"hall": "center", "business_type": "mortgage_first",
                                  "channel": "personal_guarantee_mortgage"})
    assert res.status_code == 201 and res.json()["queue_no"] == "002"
    res = await client.post("/api/staff/walkins", headers=desk,
                            json={"hall": "center", "business_type": "change",
                                  "channel": "personal_guarantee_mortgage"})
    assert res.status_code == 422 and error_code(res) == "WALKIN_NOT_ELIGIBLE"
    res = await client.post("/api/staff/walkins", headers=desk, json={"hall": "center", "business_type": "change"})
    assert res.status_code == 422 and error_code(res) == "WALKIN_CHANNEL_REQUIRED"
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": people[1][1]})
    assert res.json()["queue_no"] == "003"
    clock.set(at(24, 10, 30))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    res = await client.get("/api/staff/halls/center/figures?date=2026-11-24", headers=desk)
    assert res.status_code == 200
    fig = res.json()
    assert (fig["booked"], fig["checked_in"], fig["no_show"], fig["cancelled"], fig["walk_ins"]) == (2, 1, 1, 1, 2)
    other = await staff_headers(client, role="hall_staff", hall_code="east")
    assert (await client.get("/api/staff/halls/center/figures", headers=other)).status_code == 403

