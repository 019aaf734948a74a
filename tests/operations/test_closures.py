"""Closures: preview, cancellation for the center, WeChat notice with reason and rebook link, never a
no-show and never counted against the citizen's limits (both booking paths)."""

from datetime import date

import pytest
from tortoise import connections

from models import Booking, BookingChannel, BookingStatus, Citizen
from server.booking import flows, scheduled, service
from server.catalog import service as catalog_service
from tests.booking.conftest import at, book, citizen, error_code
from tests.factories import staff_headers


async def _close(client, headers, *, preview=False, **body):
    body = {"date": "2026-11-25", "reason": "设备检修临时闭厅", **body}
    return await client.post("/api/staff/closures" + ("/preview" if preview else ""), json=body, headers=headers)


async def test_closure_previews_then_cancels_for_the_center_and_tells_each_citizen(client, live, clock, fake_wechat):
    alice, _ = await citizen(client, code="closure-alice")
    # When booking, the mini-program asks consent for its messages (wx.requestSubscribeMessage takes up to 3
    # templates): Alice allowed the center-cancel one, without which WeChat answers 43101.
    fake_wechat.accept_subscription(fake_wechat.openid_for("closure-alice"), "tmpl-booking-center-cancelled")
    bob, _ = await citizen(client)
    carol, _ = await citizen(client)
    a = (await book(client, alice, date="2026-11-25", start="09:00")).json()
    b = (await book(client, bob, date="2026-11-25", start="14:00")).json()
    c = (await book(client, carol, date="2026-11-25", start="09:00", hall="east")).json()
    admin = await staff_headers(client)
    # Morning session of the center hall only: Alice is touched, Bob (afternoon) and Carol (east) are not.
    session = {"halls": ["center"], "sessions": [{"start": "09:00", "end": "12:00"}]}
    preview = (await _close(client, admin, preview=True, **session)).json()
    assert preview["count"] == 1 and preview["booking_ids"] == [a["id"]]
    assert preview["slots"] == [{"hall": "center", "hall_name": "中心大厅", "date": "2026-11-25", "start": "09:00",
                                 "bookings": 1}]
    assert (await Booking.get(id=a["id"])).status == BookingStatus.CONFIRMED  # a preview saves nothing
    res = await _close(client, admin, **session)
    assert res.status_code == 201, res.text
    assert res.json()["cancelled"] == 1
    await live.ctx.jobs.drain()  # the in-process runner sends it; with arq (real Redis) the job is run here
    await scheduled.notify_center_cancel(live.ctx.job_ctx, booking_id=a["id"])
    row = await Booking.get(id=a["id"])
    assert row.status == BookingStatus.CENTER_CANCELLED and row.cancel_reason == "设备检修临时闭厅"
    assert row.day_seq is None and row.center_notified_at is not None
    assert {(await Booking.get(id=x["id"])).status for x in (b, c)} == {BookingStatus.CONFIRMED}
    mine = (await client.get(f"/api/bookings/{a['id']}", headers=alice)).json()
    assert mine["status"] == "center_cancelled" and mine["status_text"] == "中心已取消"
    sent = fake_wechat.sent("subscribe", touser=fake_wechat.openid_for("closure-alice"))
    assert len(sent) == 1 and sent[0]["template_id"] == "tmpl-booking-center-cancelled"
    assert sent[0]["data"]["thing3"]["value"] == "设备检修临时闭厅"
    assert sent[0]["page"].startswith("pages/booking/new?hall=center&business_type=secondhand_transfer")
    # The closed slots can no longer be booked; the afternoon still can.
    slots = (await client.get("/api/halls/center/slots?date=2026-11-25")).json()["slots"]
    assert not any(s["start"] == "09:00" for s in slots) and any(s["start"] == "14:00" for s in slots)
    # The same day is bookable again for Alice (her daily place was freed), elsewhere.
    again = await book(client, alice, date="2026-11-25", start="10:00", hall="east")
    assert again.status_code == 201, again.text
    # The sweep after the day never turns the cancelled booking into a no-show.
    clock.set(at(25, 18, 0))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    assert (await Booking.get(id=a["id"])).status == BookingStatus.CENTER_CANCELLED


async def test_closure_input_and_hall_rule(client, live, clock):
    admin = await staff_headers(client)
    res = await _close(client, admin, halls=["nowhere"])
    assert res.status_code == 422 and error_code(res) == "HALL_NOT_FOUND"
    res = await _close(client, admin, date="2026-11-20")
    assert res.status_code == 422 and error_code(res) == "DATE_PASSED"
    res = await _close(client, admin, sessions=[{"start": "09:10", "end": "09:20"}])
    assert res.status_code == 422 and error_code(res) == "INVALID_SESSION"
    res = await _close(client, admin, reason="")
    assert res.status_code == 422
    east = await staff_headers(client, role="hall_staff", hall_code="east")
    res = await _close(client, east, halls=["center"])
    assert res.status_code == 403 and error_code(res) == "HALL_FORBIDDEN"
    res = await _close(client, east, preview=True)  # no hall given: only their own hall
    assert res.status_code == 200
    assert (await client.post("/api/staff/closures", json={"date": "2026-11-25", "reason": "x"})).status_code == 401


async def test_holiday_added_late_cancels_and_sweep_never_counts_a_closed_slot(client, live, clock):
    headers, _ = await citizen(client)
    other, _ = await citizen(client)
    booked = (await book(client, headers, date="2026-11-24", start="09:00")).json()
    kept = (await book(client, other, date="2026-11-24", start="09:00", hall="east")).json()
    admin = await staff_headers(client)
    # A holiday added through the calendar cancels the bookings it touches, like a closure.
    res = await client.post("/api/staff/calendar", headers=admin,
                            json={"date": "2026-11-24", "kind": "holiday", "name": "临时公休"})
    assert res.status_code == 201, res.text
    await live.ctx.jobs.drain()
    row = await Booking.get(id=booked["id"])
    assert row.status == BookingStatus.CENTER_CANCELLED and row.cancel_reason == "临时公休"
    assert (await Booking.get(id=kept["id"])).status == BookingStatus.CENTER_CANCELLED


async def test_sweep_cancels_for_the_center_a_slot_closed_without_cancelling_its_bookings(client, live, clock):
    headers, _ = await citizen(client)
    res = await book(client, headers, date="2026-11-24", start="09:00")
    assert res.status_code == 201, res.text
    booked = res.json()
    # A closure written straight into the calendar (as `dengji db seed` of calendar.yaml does).
    from models import CalendarDay, DayKind
    await CalendarDay.create(date=date(2026, 11, 24), kind=DayKind.CLOSURE, name="停电", halls=["center"],
                             sessions=None)
    await catalog_service.changed(live.app)
    clock.set(at(24, 18, 0))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    row = await Booking.get(id=booked["id"])
    assert row.status == BookingStatus.CENTER_CANCELLED and row.cancel_reason == "停电"


# ------------------------------------------------------------------ the limits, through both booking paths

PATHS = ["portable", "postgres"]


async def _book_via(path: str, live, *, citizen_id: int, day: str, start: str, hall: str = "center"):
    catalog, now = await flows.context(live.app)
    choice = service.SlotChoice(hall_ref=hall, business_type="secondhand_transfer", day=date.fromisoformat(day),
                                start=start)
    p = await service._prepare(ctx=live.ctx, cipher=live.ctx.cipher, catalog=catalog, now=now, choice=choice,
                               channel=BookingChannel.ONLINE)
    if path == "postgres":
        return await service._create_pg(connections.get("default"), p=p, catalog=catalog, now=now,
                                        applicant=service.CitizenRef(citizen_id), choice=choice,
                                        channel=BookingChannel.ONLINE, staff_id=None, idem=None)
    applicant = service.applicant_from_citizen(await Citizen.get(id=citizen_id))
    return await service._create_serialised(p=p, catalog=catalog, now=now, applicant=applicant, choice=choice,
                                            channel=BookingChannel.ONLINE, staff_id=None, idem=None)


# (rule, bookings first made and cancelled by the center, the booking that must then succeed)
CASES = [
    ("daily limit", [("2026-11-24", "09:00")], ("2026-11-24", "10:00")),
    ("active limit", [("2026-11-24", "09:00"), ("2026-11-25", "09:00"), ("2026-11-26", "09:00")],
     ("2026-11-27", "09:00")),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("rule", "first", "then"), CASES, ids=[c[0] for c in CASES])
async def test_center_cancelled_bookings_never_count_against_limits(client, live, clock, path, rule, first, then):
    if path == "postgres" and connections.get("default").capabilities.dialect != "postgres":
        pytest.skip("the one-statement booking path runs on PostgreSQL only (DENGJI_TEST_DATABASE_URL)")
    headers, _ = await citizen(client)
    citizen_id = (await client.get("/api/mp/me", headers=headers)).json()["id"]
    made = [(await _book_via(path, live, citizen_id=citizen_id, day=d, start=s))[0] for d, s in first]
    # Without the closure the rule refuses the next booking on this path...
    with pytest.raises(service.AppError) as refused:
        await _book_via(path, live, citizen_id=citizen_id, day=then[0], start=then[1])
    assert refused.value.code in ("DAILY_LIMIT", "ACTIVE_LIMIT")
    # ...once the center cancelled them, it no longer counts them.
    from server.operations import closures
    catalog, now = await flows.context(live.app)
    await closures.cancel_for_center(live.ctx, bookings=made, reason="闭厅", closure_id=None, now=now)
    booking, created = await _book_via(path, live, citizen_id=citizen_id, day=then[0], start=then[1])
    assert created and booking.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize("path", PATHS)
async def test_center_cancelled_bookings_never_count_as_no_shows(client, live, clock, path):
    if path == "postgres" and connections.get("default").capabilities.dialect != "postgres":
        pytest.skip("the one-statement booking path runs on PostgreSQL only (DENGJI_TEST_DATABASE_URL)")
    headers, _ = await citizen(client)
    citizen_id = (await client.get("/api/mp/me", headers=headers)).json()["id"]
    made = [(await _book_via(path, live, citizen_id=citizen_id, day=d, start="09:00"))[0]
            for d in ("2026-11-24", "2026-11-25", "2026-11-26")]
    from server.operations import closures
    _, now = await flows.context(live.app)
    await closures.cancel_for_center(live.ctx, bookings=made, reason="闭厅", closure_id=None, now=now)
    clock.set(at(27, 8, 30))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    assert await Booking.filter(status=BookingStatus.NO_SHOW).count() == 0
    booking, created = await _book_via(path, live, citizen_id=citizen_id, day="2026-11-30", start="09:00")
    assert created


async def test_closure_from_the_data_files_is_applied_ahead_and_the_citizen_told(client, live, clock, fake_wechat):
    from models import CalendarDay, DayKind
    from server.operations import scheduled as ops_scheduled

    headers, _ = await citizen(client, code="seeded-closure")
    fake_wechat.accept_subscription(fake_wechat.openid_for("seeded-closure"), "tmpl-booking-center-cancelled")
    booked = (await book(client, headers, date="2026-11-25", start="09:00")).json()
    await CalendarDay.create(date=date(2026, 11, 25), kind=DayKind.CLOSURE, name="线路改造", halls=[], sessions=None)
    await catalog_service.changed(live.app)
    assert await ops_scheduled.apply_closures(live.ctx.job_ctx) == 1
    assert await ops_scheduled.apply_closures(live.ctx.job_ctx) == 0
    await live.ctx.jobs.drain()
    await scheduled.notify_center_cancel(live.ctx.job_ctx, booking_id=booked["id"])
    row = await Booking.get(id=booked["id"])
    assert row.status == BookingStatus.CENTER_CANCELLED and row.cancel_reason == "线路改造"
    assert len(fake_wechat.sent("subscribe", touser=fake_wechat.openid_for("seeded-closure"))) == 1
    # The whole day is closed at every hall; it no longer holds one of the citizen's active places.
    res = await book(client, headers, date="2026-11-25", start="10:00", hall="east")
    assert res.status_code == 422 and error_code(res) == "HALL_CLOSED"
    assert (await Booking.filter(status__in=("pending", "confirmed")).count()) == 0


async def test_the_same_reason_closing_two_halls_closes_both(client, live, clock):
    admin = await staff_headers(client)
    for hall in ("east", "west"):
        res = await _close(client, admin, halls=[hall])
        assert res.status_code == 201, res.text
    assert (await _close(client, admin, halls=["west"])).status_code == 201  # repeated: the same entry
    for hall in ("east", "west"):
        slots = (await client.get(f"/api/halls/{hall}/slots?date=2026-11-25")).json()["slots"]
        assert slots == [], hall
    days = (await client.get("/api/staff/calendar?from=2026-11-25&to=2026-11-25", headers=admin)).json()["items"]
    assert sorted(d["name"] for d in days) == ["设备检修临时闭厅", "设备检修临时闭厅（2）"]
