"""Every booking rule of the guide (§2), each with its own error code, over real HTTP."""

from tests.booking.conftest import at, book, citizen, error_code
from tests.factories import login_citizen, staff_headers


async def test_booking_succeeds_masks_and_hints_online_handling(client, clock):
    headers, id_number = await citizen(client, name="欧阳娜娜")
    res = await book(client, headers, agent_credit_code="91350100M000100Y43", subscribe=True)
    assert res.status_code == 201, res.text
    data = res.json()
    assert data["status"] == "confirmed" and data["channel"] == "online"
    assert data["online_hint"] == "可网上办理，无需到厅"
    assert data["name"] == "欧***" and data["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert "*" in data["mobile"] and data["agent_credit_code"].startswith("9135") and "*" in data["agent_credit_code"]
    assert data["qr"] == f"DJBK:{data['code']}" and id_number not in res.text
    mine = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert [b["id"] for b in mine] == [data["id"]]
    hall_only = await book(client, headers, business_type="inheritance", date="2026-11-25")
    assert hall_only.status_code == 201 and hall_only.json()["online_hint"] is None


async def test_unbound_citizen_and_bad_credit_code_are_refused(client, clock):
    token = await login_citizen(client)
    res = await book(client, {"Authorization": f"Bearer {token}"})
    assert res.status_code == 403 and error_code(res) == "NOT_BOUND"
    headers, _ = await citizen(client)
    res = await book(client, headers, agent_credit_code="91350100M000100Y44")
    assert res.status_code == 422 and error_code(res) == "CREDIT_CODE_CHECKSUM"
    res = await client.post("/api/bookings", json={"hall": "center"})
    assert res.status_code == 401


async def test_walk_in_and_fully_online_business_need_no_booking(client, clock):
    headers, _ = await citizen(client)
    res = await book(client, headers, business_type="seizure")
    assert res.status_code == 422 and error_code(res) == "BOOKING_NOT_NEEDED"
    assert res.json()["error"]["message"] == "查封、解封登记免预约，可直接到大厅办理"
    res = await book(client, headers, business_type="new_home_transfer")
    assert res.status_code == 422 and error_code(res) == "ONLINE_ONLY"
    assert "可网上办理，无需到厅" in res.json()["error"]["message"]


async def test_window_release_time_and_same_day_cutoff(client, clock):
    headers, _ = await citizen(client)
    clock.set(at(24, 7, 30))  # Tuesday 07:30: the 7th day (Monday 30th) is not released before 08:00
    res = await book(client, headers, date="2026-11-30")
    assert res.status_code == 422 and error_code(res) == "NOT_RELEASED"
    slots = (await client.get("/api/halls/center/slots?date=2026-11-30")).json()
    assert slots["released"] is False and all(s["reason"] == "NOT_RELEASED" for s in slots["slots"])
    clock.set(at(24, 8, 0))
    res = await book(client, headers, date="2026-11-30")
    assert res.status_code == 201, res.text
    res = await book(client, headers, date="2026-12-01")
    assert res.status_code == 422 and error_code(res) == "DATE_OUTSIDE_WINDOW"
    res = await book(client, headers, date="2026-11-23")
    assert res.status_code == 422 and error_code(res) == "DATE_PASSED"
    # Today: slots starting within the hour are closed, later ones are open.
    clock.set(at(24, 9, 1))
    res = await book(client, headers, date="2026-11-24", start="10:00")
    assert res.status_code == 422 and error_code(res) == "TOO_LATE"
    res = await book(client, headers, date="2026-11-24", start="10:30")
    assert res.status_code == 201, res.text


async def test_slot_must_exist_in_hall_hours_and_calendar(client, clock):
    headers, _ = await citizen(client)
    res = await book(client, headers, start="12:30")  # lunch break
    assert res.status_code == 422 and error_code(res) == "SLOT_NOT_FOUND"
    res = await book(client, headers, hall="east", date="2026-11-28")  # east has no Saturday duty
    assert res.status_code == 422 and error_code(res) == "HALL_CLOSED"
    res = await book(client, headers, hall="center", date="2026-11-28", start="13:30")  # Saturday: mornings only
    assert res.status_code == 422 and error_code(res) == "SLOT_NOT_FOUND"
    res = await book(client, headers, hall="center", date="2026-11-28", start="09:00")
    assert res.status_code == 201
    res = await book(client, headers, hall="nowhere")
    assert res.status_code == 404 and error_code(res) == "HALL_NOT_FOUND"
    res = await book(client, headers, start="９：３０", date="2026-11-25")  # full-width input is understood
    assert res.status_code == 201, res.text


async def test_one_per_id_per_day_across_halls_and_three_active(client, clock):
    headers, _ = await citizen(client)
    assert (await book(client, headers, hall="center", start="09:00")).status_code == 201
    res = await book(client, headers, hall="east", start="14:00")
    assert res.status_code == 409 and error_code(res) == "DAILY_LIMIT"
    assert (await book(client, headers, date="2026-11-25")).status_code == 201
    assert (await book(client, headers, date="2026-11-26")).status_code == 201
    res = await book(client, headers, date="2026-11-27")
    assert res.status_code == 409 and error_code(res) == "ACTIVE_LIMIT"
    assert "3" in res.json()["error"]["message"]


async def test_hotline_booking_for_same_id_counts_against_the_limit(client, clock):
    clock.set(at(23, 9, 30))  # the hotline answers 9:00–17:00 on working days (center.yaml)
    headers, id_number = await citizen(client, name="李四")
    hotline = await staff_headers(client, role="hotline")
    res = await client.post("/api/staff/bookings", headers=hotline, json={
        "name": "李四", "id_number": id_number, "mobile": "13900001111", "hall": "west",
        "business_type": "mortgage_first", "date": "2026-11-24", "start": "09:00"})
    assert res.status_code == 201 and res.json()["channel"] == "hotline"
    assert res.json()["id_number"] != id_number and "*" in res.json()["mobile"]
    res = await book(client, headers, date="2026-11-24")
    assert res.status_code == 409 and error_code(res) == "DAILY_LIMIT"
    mine = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert len(mine) == 1 and mine[0]["hall"]["code"] == "west"


async def test_cancel_until_two_hours_before_and_the_day_frees_up(client, clock):
    headers, _ = await citizen(client)
    first = (await book(client, headers, date="2026-11-24", start="10:00")).json()
    clock.set(at(24, 8, 1))
    res = await client.post(f"/api/bookings/{first['id']}/cancel", headers=headers)
    assert res.status_code == 422 and error_code(res) == "CANCEL_TOO_LATE"
    clock.set(at(24, 7, 59))
    res = await client.post(f"/api/bookings/{first['id']}/cancel", headers=headers)
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    cancelled = res.json()
    # A retry after a lost response answers the same cancelled booking (idempotent), even past the cut-off.
    res = await client.post(f"/api/bookings/{first['id']}/cancel", headers=headers)
    assert res.status_code == 200 and res.json() == cancelled
    clock.set(at(24, 9, 30))
    res = await client.post(f"/api/bookings/{first['id']}/cancel", headers=headers)
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    clock.set(at(24, 7, 59))
    assert (await book(client, headers, date="2026-11-24", start="14:00")).status_code == 201


async def test_reschedule_is_atomic(client, clock):
    headers, _ = await citizen(client)
    old = (await book(client, headers, date="2026-11-24", start="09:00")).json()
    admin = await staff_headers(client)
    res = await client.put("/api/staff/halls/center/slots/2026-11-25/10:00", headers=admin,
                           json={"quota": 0, "hotline_quota": 0})
    assert res.status_code == 200
    res = await client.post(f"/api/bookings/{old['id']}/reschedule", headers=headers,
                            json={"date": "2026-11-25", "start": "10:00"})
    assert res.status_code == 409 and error_code(res) == "SLOT_FULL"
    mine = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert [(b["id"], b["status"]) for b in mine] == [(old["id"], "confirmed")]
    slots = (await client.get("/api/halls/center/slots?date=2026-11-24")).json()["slots"]
    assert slots[0]["remaining"] == 23
    # Same day, other slot: allowed (the old booking no longer holds the day).
    res = await client.post(f"/api/bookings/{old['id']}/reschedule", headers=headers,
                            json={"date": "2026-11-24", "start": "15:00"})
    assert res.status_code == 201, res.text
    new = res.json()
    assert new["replaces"] == old["id"] and new["start"] == "15:00"
    statuses = {b["id"]: b["status"] for b in (await client.get("/api/bookings", headers=headers)).json()["items"]}
    assert statuses == {old["id"]: "cancelled", new["id"]: "confirmed"}
    slots = (await client.get("/api/halls/center/slots?date=2026-11-24")).json()["slots"]
    by_start = {s["start"]: s["remaining"] for s in slots}
    assert by_start["09:00"] == 24 and by_start["15:00"] == 23


async def test_citizens_cannot_see_or_cancel_others_bookings_nor_reach_staff_routes(client, clock):
    alice, _ = await citizen(client)
    bob, _ = await citizen(client)
    booking = (await book(client, alice)).json()
    assert (await client.get(f"/api/bookings/{booking['id']}", headers=bob)).status_code == 404
    res = await client.post(f"/api/bookings/{booking['id']}/cancel", headers=bob)
    assert res.status_code == 404 and error_code(res) == "BOOKING_NOT_FOUND"
    res = await client.post(f"/api/bookings/{booking['id']}/reschedule", headers=bob,
                            json={"date": "2026-11-25", "start": "09:00"})
    assert res.status_code == 404
    assert (await client.get("/api/bookings", headers=bob)).json()["items"] == []
    for method, path in (("GET", "/api/staff/bookings"), ("POST", "/api/staff/checkin"),
                         ("PUT", "/api/staff/halls/center"), ("GET", "/api/staff/calendar")):
        res = await client.request(method, path, headers=alice, json={})
        assert res.status_code == 403, path
    assert (await client.get(f"/api/bookings/{booking['id']}", headers=alice)).status_code == 200
