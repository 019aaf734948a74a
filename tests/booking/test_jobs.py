"""Background work: reminders once, no-show sweep and suspension, anti-scalping release, scan check-in."""

from datetime import timedelta

from models import Booking, Citizen, SlotCounter
from server.booking import flows, scheduled
from server.catalog import service as catalog_service
from tests.booking.conftest import MONDAY, at, book, citizen, error_code
from tests.conftest import count_queries
from tests.factories import staff_headers


async def test_reminder_goes_out_once_the_day_before_to_subscribers_only(client, live, clock, fake_wechat):
    subscriber, _ = await citizen(client, code="reminder-code")
    fake_wechat.accept_subscription(fake_wechat.openid_for("reminder-code"), "tmpl-booking-reminder", times=2)
    silent, _ = await citizen(client)
    booked = (await book(client, subscriber, date="2026-11-25", subscribe=True)).json()
    await book(client, silent, date="2026-11-25")
    await book(client, subscriber, date="2026-11-26", subscribe=True)  # not tomorrow yet
    clock.set(at(24, 17, 59))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    clock.set(at(24, 18, 0))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 1
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    sent = fake_wechat.sent("subscribe")
    assert len(sent) == 1 and sent[0]["touser"] == fake_wechat.openid_for("reminder-code")
    assert sent[0]["template_id"] == "tmpl-booking-reminder"
    assert sent[0]["data"]["character_string4"]["value"] == booked["code"]
    assert sent[0]["page"] == f"pages/booking/detail?id={booked['id']}"


async def test_transient_failure_retries_the_reminder_later(client, live, clock, fake_wechat):
    headers, _ = await citizen(client, code="retry-code")
    fake_wechat.accept_subscription(fake_wechat.openid_for("retry-code"), "tmpl-booking-reminder")
    await book(client, headers, date="2026-11-25", subscribe=True)
    clock.set(at(24, 18, 30))
    fake_wechat.fail_next("cgi-bin/message/subscribe/send", 45009)
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 1
    assert len(fake_wechat.sent("subscribe")) == 1


async def test_no_show_sweep_and_suspension_after_three_in_ninety_days(client, live, clock):
    headers, _ = await citizen(client)
    for day in ("2026-11-24", "2026-11-25", "2026-11-26"):
        assert (await book(client, headers, date=day, start="09:00")).status_code == 201
    clock.set(at(26, 9, 29))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    statuses = sorted(b["status"] for b in (await client.get("/api/bookings", headers=headers)).json()["items"])
    assert statuses == ["confirmed", "no_show", "no_show"]
    res = await book(client, headers, date="2026-11-27")
    assert res.status_code == 201
    clock.set(at(26, 9, 30))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    res = await book(client, headers, date="2026-11-30")
    assert res.status_code == 403 and error_code(res) == "BOOKING_SUSPENDED"
    assert res.json()["error"]["details"]["suspended_until"] == "2026-12-26"
    assert "2026年12月26日" in res.json()["error"]["message"]
    citizen_row = await Citizen.get(id_hash=(await Booking.first()).id_hash)
    assert citizen_row.suspended_until is not None
    me = (await client.get("/api/mp/me", headers=headers)).json()
    assert me["suspended_until"].startswith("2026-12-26")


async def test_checked_in_and_pending_bookings_are_not_no_shows(client, live, clock):
    a, a_id = await citizen(client)
    await book(client, a, start="10:00")
    desk = await staff_headers(client, role="hall_staff", hall_code="center")
    clock.set(at(24, 9, 45))
    res = await client.post("/api/staff/checkin", headers=desk, json={"hall": "center", "id_number": a_id})
    assert res.is_success
    admin = await staff_headers(client)
    await client.put("/api/staff/halls/east", headers=admin, json={"review_mode": True})
    clock.set(at(23, 9, 0))
    b, _ = await citizen(client)
    assert (await book(client, b, hall="east", start="10:00")).json()["status"] == "pending"
    clock.set(at(24, 11, 0))
    await scheduled.sweep_no_shows(live.ctx.job_ctx)
    assert sorted(await Booking.all().values_list("status", flat=True)) == ["checked_in", "expired"]


async def test_cancelled_place_returns_after_the_halls_delay(client, live, clock):
    admin = await staff_headers(client)
    await client.put("/api/staff/halls/south", headers=admin, json={"cancel_release_delay_minutes": 30})
    await client.put("/api/staff/halls/south/slots/2026-11-24/09:00", headers=admin, json={"quota": 1})
    holder, _ = await citizen(client)
    booking = (await book(client, holder, hall="south")).json()
    res = await client.post(f"/api/bookings/{booking['id']}/cancel", headers=holder)
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    scalper, _ = await citizen(client)
    slot = (await client.get("/api/halls/south/slots?date=2026-11-24")).json()["slots"][0]
    assert slot["remaining"] == 0
    assert error_code(await book(client, scalper, hall="south")) == "SLOT_FULL"
    clock.advance(minutes=29)
    assert await scheduled.release_due(live.ctx.job_ctx) == 0
    clock.advance(minutes=1)
    assert await scheduled.release_due(live.ctx.job_ctx) == 1
    assert await scheduled.release_due(live.ctx.job_ctx) == 0
    slot = (await client.get("/api/halls/south/slots?date=2026-11-24")).json()["slots"][0]
    assert slot["remaining"] == 1
    # The delayed job finds the place already released and does nothing.
    await scheduled.release_slot(live.ctx.job_ctx, booking_id=booking["id"])
    assert (await client.get("/api/halls/south/slots?date=2026-11-24")).json()["slots"][0]["remaining"] == 1
    assert (await book(client, scalper, hall="south")).status_code == 201


async def test_immediate_release_by_default(client, clock):
    a, _ = await citizen(client)
    booking = (await book(client, a, hall="north")).json()
    center_id = next(h["id"] for h in (await client.get("/api/halls")).json()["items"] if h["code"] == "center")
    by_id = (await client.get(f"/api/halls/{center_id}/slots?date=2026-11-24")).json()
    assert by_id["hall"]["code"] == "center" and by_id["slots"][0]["remaining"] == 24
    before = (await client.get("/api/halls/north/slots?date=2026-11-24")).json()["slots"][0]["remaining"]
    await client.post(f"/api/bookings/{booking['id']}/cancel", headers=a)
    after = (await client.get("/api/halls/north/slots?date=2026-11-24")).json()["slots"][0]["remaining"]
    assert after == before + 1


async def test_check_in_by_scanning_the_hall_code(client, live, clock, fake_wechat):
    from server.booking import checkin_qr

    headers, _ = await citizen(client, code="scan-me")
    await book(client, headers, start="10:00")
    # The scan arrives in the public account: the same person's openid there, not the mini-program's.
    openid = fake_wechat.openid_in(fake_wechat.appid, "scan-me")
    fake_wechat.follow(openid)  # a SCAN event is a follower's (a non-follower's scan arrives as subscribe)
    app = live.app

    async def scene(hall: str = "center") -> str:
        return (await checkin_qr.current_checkin_qr(app, hall_code=hall))["scene"]

    assert "没有有效的预约" in await flows.check_in_by_scan(app=app, openid=openid, scene=await scene())
    clock.set(at(24, 9, 0))
    reply = await flows.check_in_by_scan(app=app, openid=openid, scene="qrscene_" + await scene())
    assert reply.startswith("签到未成功") and "09:30" in reply
    clock.set(at(24, 9, 40))
    reply = await flows.check_in_by_scan(app=app, openid=openid, scene=await scene())
    assert reply.startswith("签到成功") and "001" in reply
    assert "已签到" in await flows.check_in_by_scan(app=app, openid=openid, scene=await scene())
    assert "没有有效的预约" in await flows.check_in_by_scan(app=app, openid=openid, scene=await scene("east"))
    assert "无法识别" in await flows.check_in_by_scan(app=app, openid=openid, scene="menu:foo")
    assert "实名" in await flows.check_in_by_scan(app=app, openid="stranger", scene=await scene())
    # The fixed code of old, and a forged signature, check nobody in.
    assert "已停用" in await flows.check_in_by_scan(app=app, openid=openid, scene="hall:center")
    forged = (await scene()).rsplit(":", 1)[0] + ":0000000000"
    assert "无法识别" in await flows.check_in_by_scan(app=app, openid=openid, scene=forged)


async def test_counters_of_the_whole_window_are_prepared_before_the_release_rush(client, live, clock):
    catalog = await catalog_service.get(live.app)
    created = await scheduled.prepare_counters(live.ctx.job_ctx)
    # Monday 08:30: the window is Mon 23 – Sun 29; every open hall-day has both channels' counters.
    expected = sum(len(catalog.slot_starts(h, d)) * 2 for h in catalog.halls
                   for d in (MONDAY.date() + timedelta(days=n) for n in range(7)))
    assert created == expected > 0
    assert await SlotCounter.all().count() == expected
    assert await scheduled.prepare_counters(live.ctx.job_ctx) == 0
    row = await SlotCounter.get(hall_code="center", date="2026-11-25", start="09:00", channel="online")
    assert (row.quota, row.booked) == (catalog.halls["center"].online_quota, 0)
    headers, _ = await citizen(client)
    assert (await book(client, headers, date="2026-11-25")).status_code == 201
    await row.refresh_from_db()
    assert row.booked == 1
    slots = (await client.get("/api/halls/center/slots?date=2026-11-25")).json()["slots"]
    assert slots[0]["remaining"] == catalog.halls["center"].online_quota - 1


async def test_workers_load_the_window_counter_ids_in_one_query(client, live, clock):
    from server.booking import availability

    catalog = await catalog_service.get(live.app)
    await scheduled.prepare_counters(live.ctx.job_ctx)
    cache = live.ctx._avail_cache
    cache.counter_ids.clear()
    total = await SlotCounter.all().count()
    with count_queries() as queries:
        assert await availability.load_window_ids(live.ctx, catalog, MONDAY) == total
    assert len(queries) == 1, queries
    row = await SlotCounter.get(hall_code="east", date="2026-11-27", start="14:00", channel="hotline")
    assert cache.counter_ids[("east", row.date, "14:00", "hotline")] == row.id
