"""Hall hours, Saturday duty and extended hours edited by staff (effective at once, audited); the Saturday
booking-only rule; per-hall business scope followed by booking, walk-ins and the bot's answer."""

from models import AuditLog, Booking, BookingStatus
from server.booking import flows
from server.operations import service as ops
from tests.booking.conftest import at, book, citizen, error_code
from tests.factories import staff_headers


async def _hours(client, headers, code="east", **body):
    return await client.put(f"/api/staff/halls/{code}/hours", json=body, headers=headers)


async def test_extended_hours_take_effect_at_once_and_are_audited(client, live, clock):
    admin = await staff_headers(client)
    before = [s["start"] for s in (await client.get("/api/halls/east/slots?date=2026-11-24")).json()["slots"]]
    assert "17:00" not in before and "08:30" not in before
    res = await _hours(client, admin, extended=[{"kind": "late", "start": "17:00", "end": "18:00"},
                                                {"kind": "early", "start": "08:30", "end": "09:00",
                                                 "from": "2026-11-25", "until": "2026-11-26"}])
    assert res.status_code == 200, res.text
    assert [e["kind"] for e in res.json()["extended"]] == ["late", "early"]
    tue = [s["start"] for s in (await client.get("/api/halls/east/slots?date=2026-11-24")).json()["slots"]]
    wed = [s["start"] for s in (await client.get("/api/halls/east/slots?date=2026-11-25")).json()["slots"]]
    assert "17:00" in tue and "17:30" in tue and "08:30" not in tue
    assert wed[0] == "08:30" and "17:30" in wed
    headers, _ = await citizen(client)
    assert (await book(client, headers, hall="east", date="2026-11-24", start="17:30")).status_code == 201
    audit = await AuditLog.filter(action="hall.hours.update").first()
    assert audit is not None and audit.target_id == "east" and audit.fields_read == ["extended"]


async def test_saturday_duty_edit_and_removed_slots_cancelled_for_the_center(client, live, clock):
    admin = await staff_headers(client)
    headers, _ = await citizen(client)
    booked = (await book(client, headers, hall="east", date="2026-11-24", start="16:30")).json()
    # East takes up Saturday duty (booking only) and closes earlier on weekdays.
    res = await _hours(client, admin, saturday_duty=True, saturday_booking_only=True,
                       saturday=[{"start": "09:00", "end": "11:00"}],
                       weekday=[{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "16:30"}])
    assert res.status_code == 200, res.text
    assert res.json()["cancelled_bookings"] == 1
    row = await Booking.get(id=booked["id"])
    assert row.status == BookingStatus.CENTER_CANCELLED and row.cancel_reason == "大厅服务时间调整"
    sat = [s["start"] for s in (await client.get("/api/halls/east/slots?date=2026-11-28")).json()["slots"]]
    assert sat == ["09:00", "09:30", "10:00", "10:30"]
    hall = next(h for h in (await client.get("/api/halls")).json()["items"] if h["code"] == "east")
    assert hall["saturday_duty"] is True and hall["saturday_booking_only"] is True


async def test_hours_input_is_checked(client, live, clock):
    admin = await staff_headers(client)
    res = await _hours(client, admin, saturday_booking_only=True)  # east has no Saturday duty
    assert res.status_code == 422 and error_code(res) == "SATURDAY_BOOKING_ONLY_INVALID"
    res = await _hours(client, admin, saturday_duty=True)
    assert res.status_code == 422 and error_code(res) == "SATURDAY_SESSIONS_REQUIRED"
    res = await _hours(client, admin, weekday=[{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}])
    assert res.status_code == 422 and error_code(res) == "INVALID_SESSION"
    res = await _hours(client, admin, extended=[{"kind": "late", "start": "16:00", "end": "17:30"}])
    assert res.status_code == 422 and error_code(res) == "INVALID_SESSION"
    res = await _hours(client, admin, extended=[{"kind": "lunch", "start": "12:00", "end": "13:00"}])
    assert res.status_code == 422
    res = await _hours(client, admin, code="nowhere", saturday_duty=False)
    assert res.status_code == 404
    staff = await staff_headers(client, role="hall_staff", hall_code="east")
    assert (await _hours(client, staff, saturday_duty=False)).status_code == 403


async def test_saturday_walk_in_at_a_booking_only_hall_is_refused(client, live, clock):
    staff = await staff_headers(client, role="hall_staff", hall_code="center")
    clock.set(at(28, 9, 30))  # Saturday: the center hall's duty serves bookings only
    res = await client.post("/api/staff/walkins", headers=staff, json={"hall": "center", "business_type": "seizure"})
    assert res.status_code == 422 and error_code(res) == "SATURDAY_BOOKING_ONLY"
    clock.set(at(27, 9, 30))  # Friday: walk-ins welcome
    res = await client.post("/api/staff/walkins", headers=staff, json={"hall": "center", "business_type": "seizure"})
    assert res.status_code == 201, res.text
    # Turned off by staff: the same Saturday walk-in is accepted without a restart.
    admin = await staff_headers(client)
    assert (await _hours(client, admin, code="center", saturday_booking_only=False)).status_code == 200
    clock.set(at(28, 9, 30))
    res = await client.post("/api/staff/walkins", headers=staff, json={"hall": "center", "business_type": "seizure"})
    assert res.status_code == 201, res.text


async def test_business_paused_at_one_hall(client, live, clock):
    admin = await staff_headers(client)
    res = await client.put("/api/staff/halls/east/scope/inheritance", headers=admin,
                           json={"reason": "非公证继承集中在中心大厅办理"})
    assert res.status_code == 200, res.text
    item = next(i for i in res.json()["items"] if i["business_type"] == "inheritance")
    assert item["paused"] is True and item["reason"] == "非公证继承集中在中心大厅办理"
    headers, _ = await citizen(client)
    res = await book(client, headers, hall="east", business_type="inheritance")
    assert res.status_code == 422 and error_code(res) == "BUSINESS_PAUSED"
    assert "非公证继承集中在中心大厅办理" in res.json()["error"]["message"]
    assert "中心大厅" in res.json()["error"]["details"]["halls"]
    assert (await book(client, headers, hall="center", business_type="inheritance")).status_code == 201
    # Walk-ins follow it too (seizure paused at east for the test).
    await client.put("/api/staff/halls/east/scope/seizure", headers=admin, json={"reason": "司法专线集中办理"})
    staff = await staff_headers(client, role="hall_staff", hall_code="east")
    clock.set(at(23, 10, 0))
    res = await client.post("/api/staff/walkins", headers=staff, json={"hall": "east", "business_type": "seizure"})
    assert res.status_code == 422 and error_code(res) == "BUSINESS_PAUSED"
    # The bot's answer comes from the same data.
    catalog, _ = await flows.context(live.app)
    answer = ops.where_handled(catalog, "inheritance")
    assert "城东大厅暂停办理（非公证继承集中在中心大厅办理）" in answer and "中心大厅" in answer
    assert (await client.get("/api/staff/halls/east/scope", headers=staff)).status_code == 200
    assert (await client.get("/api/staff/halls/center/scope", headers=staff)).status_code == 403
    # Resumed: booking works again at once.
    assert (await client.delete("/api/staff/halls/east/scope/inheritance", headers=admin)).status_code == 200
    other, _ = await citizen(client)
    assert (await book(client, other, hall="east", business_type="inheritance")).status_code == 201
    res = await client.delete("/api/staff/halls/east/scope/inheritance", headers=admin)
    assert res.status_code == 404 and error_code(res) == "PAUSE_NOT_FOUND"
    res = await client.put("/api/staff/halls/east/scope/nothing", headers=admin, json={"reason": "暂停办理"})
    assert res.status_code == 404 and error_code(res) == "BUSINESS_TYPE_NOT_FOUND"
    res = await client.put("/api/staff/halls/east/scope/seizure", headers=admin, json={})
    assert res.status_code == 422


async def test_idempotency_keys_expire_after_the_ttl_in_the_rules(client, live, clock):
    from datetime import timedelta

    from tortoise import timezone

    from server.booking import scheduled

    headers, _ = await citizen(client)
    first = await book(client, headers, date="2026-11-24", idempotency_key="k-1")
    assert first.status_code == 201
    reused = await book(client, headers, date="2026-11-25", idempotency_key="k-1")
    assert reused.status_code == 409 and error_code(reused) == "IDEMPOTENCY_KEY_REUSED"
    assert await scheduled.expire_idempotency_keys(live.ctx.job_ctx) == 0  # within the 86,400 s of the rules
    # The booking was made more than a day ago (its row is aged by hand): the key is forgotten.
    await Booking.filter(id=first.json()["id"]).update(created_at=timezone.now() - timedelta(seconds=86_401))
    assert await scheduled.expire_idempotency_keys(live.ctx.job_ctx) == 1
    again = await book(client, headers, date="2026-11-25", idempotency_key="k-1")
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
