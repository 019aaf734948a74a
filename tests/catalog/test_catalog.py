"""Halls, business types and the calendar, seeded from the sample data files."""

from datetime import date, time

from models import CalendarDay, DayKind
from server.catalog import service


async def test_halls_and_business_types_are_served(client):
    halls = (await client.get("/api/halls")).json()["items"]
    assert len(halls) == 6
    center = next(h for h in halls if h["code"] == "center")
    assert center["quota_per_slot"] == 30 and center["saturday_duty"] is True
    assert center["online_quota"] + center["hotline_quota"] == 30
    assert center["sessions"]["weekday"] == [["09:00", "12:00"], ["13:30", "17:00"]]
    types = (await client.get("/api/business-types")).json()
    assert len(types["items"]) == 13
    seizure = next(t for t in types["items"] if t["code"] == "seizure")
    assert seizure["booking"] == "walk_in"
    assert types["walk_in_channels"]


async def test_slots_follow_hours_saturday_duty_holidays_and_makeup_days(live):
    cat = await service.get(live.app)
    monday = date(2026, 11, 23)
    starts = cat.slot_starts("east", monday)
    assert len(starts) == 13 and starts[0] == time(9) and starts[6] == time(13, 30)
    saturday = date(2026, 11, 28)
    assert len(cat.slot_starts("center", saturday)) == 6
    assert cat.slot_starts("east", saturday) == []
    assert cat.slot_starts("center", date(2026, 11, 29)) == []  # Sunday
    assert cat.slot_starts("center", date(2026, 10, 1)) == []  # National Day
    assert len(cat.slot_starts("east", date(2026, 10, 10))) == 13  # make-up Saturday: weekday hours


async def test_extra_days_and_closures_apply_after_a_change(live):
    sunday = date(2026, 11, 29)
    await CalendarDay.create(date=sunday, kind=DayKind.EXTRA, name="周末临时加开服务窗口", halls=["east"])
    await CalendarDay.create(date=date(2026, 11, 24), kind=DayKind.CLOSURE, name="系统升级", halls=[],
                             sessions=[["13:30", "17:00"]])
    await service.changed(live.app)
    cat = await service.get(live.app)
    assert len(cat.slot_starts("east", sunday)) == 13
    assert cat.slot_starts("west", sunday) == []
    assert len(cat.slot_starts("west", date(2026, 11, 24))) == 6


async def test_working_days_skip_holidays_and_count_makeup_days(live):
    cat = await service.get(live.app)
    assert cat.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cat.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)  # make-up Saturday
    assert cat.add_working_days(date(2026, 11, 20), 3) == date(2026, 11, 25)
    assert cat.add_working_days(date(2026, 11, 21), 0) == date(2026, 11, 23)
