"""The calendar page on issue 12's services: closures previewed (the bookings they touch) before saving, then
cancelled for the center; a hall's hours, Saturday duty and extended hours; pausing and resuming a business."""

from __future__ import annotations

from models import Booking, CalendarDay, HallScopePause
from server.catalog import service as catalog_service
from tests.booking.conftest import book, citizen
from tests.console.conftest import console_login


async def test_closure_is_previewed_then_saved_and_cancels_for_the_center(live, client, clock):
    people = [await citizen(client) for _ in range(2)]
    for h, _ in people:
        assert (await book(client, h, hall="east", date="2026-11-26", start="09:00")).status_code == 201
    assert (await book(client, people[0][0], hall="east", date="2026-11-27", start="14:00")).status_code == 201
    admin = await console_login(live, "admin")
    form = {"date": "2026-11-26", "end_date": "2026-11-27", "halls": "east", "reason": "系统升级",
            "session_start": "09:00", "session_end": "12:00"}
    res = await admin.post("/console/calendar/closure", form | {"reason": "x"})
    assert res.status_code == 422 and 'id="ce-reason"' in res.text
    res = await admin.post("/console/calendar/closure", form | {"end_date": "2026-11-20"})
    assert res.status_code == 422 and 'id="ce-end_date"' in res.text and "结束日期不能早于开始日期" in res.text
    res = await admin.post("/console/calendar/closure", form)
    assert res.status_code == 200 and 'id="closure-preview"' in res.text
    assert '<strong id="closure-count">2</strong>' in res.text  # the morning of the 26th only
    assert await CalendarDay.filter(name="系统升级").count() == 0
    assert await Booking.filter(status="center_cancelled").count() == 0
    res = await admin.post("/console/calendar/closure", form | {"confirm": "1"})
    assert res.status_code == 200 and "已为中心取消 2 个预约" in res.text
    assert await CalendarDay.filter(name="系统升级").count() == 2
    assert await Booking.filter(status="center_cancelled").count() == 2
    assert (await Booking.get(date="2026-11-27")).status != "center_cancelled"
    await admin.aclose()


async def test_hours_saturday_duty_and_extended_hours(live, client, clock):
    admin = await console_login(live, "admin")
    page = await admin.get("/console/calendar/halls/west")
    assert page.status_code == 200 and 'id="hours-form"' in page.text
    form = {"weekday": "09:00-12:00、13:30-17:00", "saturday": "", "ext_kind": "late", "ext_start": "17:00",
            "ext_end": "18:00"}
    res = await admin.post("/console/calendar/halls/west/hours", form | {"weekday": ""})
    assert res.status_code == 422 and 'id="e-weekday"' in res.text
    res = await admin.post("/console/calendar/halls/west/hours", form | {"saturday_duty": "1"})
    assert res.status_code == 422 and 'id="e-saturday"' in res.text and "周六值班须填写周六值班时段" in res.text
    res = await admin.post("/console/calendar/halls/west/hours", form | {"ext_start": "16:30"})
    assert res.status_code == 422 and "延时服务时段不能与工作日服务时段重叠" in res.text
    res = await admin.post("/console/calendar/halls/west/hours",
                           form | {"saturday_duty": "1", "saturday": "09:00-12:00"})
    assert res.status_code == 302
    hall = (await catalog_service.get(live.app)).halls["west"]
    assert hall.saturday_duty and [(a.strftime("%H:%M"), b.strftime("%H:%M")) for a, b in hall.saturday] == [
        ("09:00", "12:00")]
    assert [(e.kind, e.period[1].strftime("%H:%M")) for e in hall.extended] == [("late", "18:00")]
    page = await admin.get(res.headers["location"])
    assert "服务时间已保存" in page.text and 'value="18:00"' in page.text
    await admin.aclose()


async def test_business_scope_pause_and_resume(live, client, clock):
    admin = await console_login(live, "admin")
    res = await admin.post("/console/calendar/halls/south/scope/mortgage_first/pause", {"reason": ""})
    assert res.status_code == 422 and 'id="e-reason-mortgage_first"' in res.text
    res = await admin.post("/console/calendar/halls/south/scope/mortgage_first/pause", {"reason": "系统维护"})
    assert res.status_code == 302
    assert await HallScopePause.filter(hall_code="south", business_type="mortgage_first").exists()
    page = await admin.get("/console/calendar/halls/south")
    assert "已暂停" in page.text and "系统维护" in page.text
    res = await admin.post("/console/calendar/halls/south/scope/mortgage_first/resume")
    assert res.status_code == 302
    assert not await HallScopePause.filter(hall_code="south", business_type="mortgage_first").exists()
    res = await admin.post("/console/calendar/halls/south/scope/mortgage_first/resume")
    assert res.status_code == 404 and "该大厅未暂停此业务" in res.text
    res = await admin.post("/console/calendar/halls/nowhere/scope/mortgage_first/resume")
    assert res.status_code == 404
    # Only admins manage halls.
    desk = await console_login(live, "hall_staff", "south")
    assert (await desk.get("/console/calendar/halls/south")).status_code == 403
    await desk.aclose()
    await admin.aclose()
