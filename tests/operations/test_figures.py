"""Management figures checked against a hand-counted fixture: per hall and center-wide, by day, week and
month; the online rate by month and business type against the target; the hall rule; CSV, .xlsx and CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from models import Booking, Case, QueueTicket, WalkIn
from server.booking import flows
from server.operations import figures
from tests.factories import staff_headers

TZ = ZoneInfo("Asia/Shanghai")
_n = iter(range(1, 10_000))


async def _booking(day: str, hall: str, status: str) -> None:
    n = next(_n)
    begin = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=TZ) + timedelta(hours=9)
    await Booking.create(code=f"FIX{n:05d}", id_hash=f"h{n}", name_enc="x", id_number_enc="x", mobile_enc="x",
                         hall_code=hall, business_type="secondhand_transfer", date=date.fromisoformat(day),
                         start="09:00", end="09:30", slot_at=begin, slot_end_at=begin + timedelta(minutes=30),
                         channel="online", status=status, counter_id=0)


async def _case(accepted_at: str, hall: str, business_type: str, channel: str) -> None:
    n = next(_n)
    at = datetime.fromisoformat(accepted_at)
    await Case.create(receipt_no=f"2026-0000-{n:06d}", business_type=business_type, hall=hall, stage="accepted",
                      stage_at=at, accepted_at=at, channel=channel)


async def _fixture() -> None:
    # Hand-counted below: "stands" = not cancelled by the citizen, declined or cancelled by the center.
    for status in ["checked_in"] * 3 + ["no_show", "cancelled", "cancelled", "center_cancelled", "declined"]:
        await _booking("2026-11-02", "center", status)  # stands 4, check-ins 3, no-shows 1
    for status in ("checked_in", "expired"):
        await _booking("2026-11-02", "east", status)  # stands 2, check-ins 1
    for _ in range(2):
        await _booking("2026-11-10", "center", "checked_in")  # stands 2, check-ins 2
        await _booking("2026-10-30", "east", "no_show")  # stands 2, no-shows 2
    for hall, day in (("center", "2026-11-02"), ("center", "2026-11-02"), ("east", "2026-11-10")):
        await WalkIn.create(hall_code=hall, date=date.fromisoformat(day), business_type="seizure",
                            channel_code="seizure", queue_no=1, staff_id=1)
    await _case("2026-11-02T00:10:00+08:00", "center", "secondhand_transfer", "online_self")  # 1 Nov in UTC
    await _case("2026-11-02T16:00:00+08:00", "center", "secondhand_transfer", "hall")
    await _case("2026-11-03T00:10:00+08:00", "center", "secondhand_transfer", "online_self")
    await _case("2026-11-10T10:00:00+08:00", "center", "secondhand_transfer", "online_agent")
    await _case("2026-11-02T10:00:00+08:00", "east", "mortgage_first", "online_agent")
    await _case("2026-10-30T10:00:00+08:00", "east", "secondhand_transfer", "unknown")
    await _case("2026-10-30T10:00:00+08:00", "center", "inheritance", "hall")
    await _case("2026-12-01T10:00:00+08:00", "center", "inheritance", "hall")  # outside the range


async def _ticket(day: str, hall: str, issued: str, called: str | None, status: str = "done") -> None:
    n = next(_n)
    on = date.fromisoformat(day)
    at = lambda hms: datetime.combine(on, datetime.strptime(hms, "%H:%M:%S.%f").time(), tzinfo=TZ)  # noqa: E731
    await QueueTicket.create(hall_code=hall, date=on, number=n, business_type="secondhand_transfer", status=status,
                             issued_at=at(issued), called_at=at(called) if called else None)


async def _queue_fixture() -> None:
    # Hand-counted waits from getting the number to the first call, in seconds.
    await _ticket("2026-11-02", "center", "09:00:00.400", "09:05:00.000")  # 299.6 → 300
    await _ticket("2026-11-02", "center", "09:10:00.000", "09:30:00.000", status="skipped")  # 1200 (called)
    await _ticket("2026-11-02", "center", "09:40:00.000", None, status="waiting")  # never called: not counted
    await _ticket("2026-11-02", "east", "10:00:00.000", "10:01:40.000")  # 100
    await _ticket("2026-11-10", "center", "14:00:00.000", "14:10:00.000")  # 600
    await _ticket("2026-12-01", "center", "14:00:00.000", "15:00:00.000")  # outside the range


def _row(table, period, hall):
    return next(r for r in table["rows"] if r["period"] == period and r["hall"] == hall)


def _counts(row):
    return {k: row[k] for k in figures.FIELDS if k != "avg_wait_seconds"}


async def test_figures_by_month_match_the_hand_count(client, live, clock):
    await _fixture()
    admin = await staff_headers(client)
    res = await client.get("/api/staff/figures?from=2026-10-01&to=2026-11-30&by=month", headers=admin)
    assert res.status_code == 200, res.text
    t = res.json()
    assert t["fields"] == ["bookings", "check_ins", "no_shows", "walk_ins", "visitors", "business_volume",
                           "online_rate", "avg_wait_seconds"]
    assert _counts(_row(t, "2026-10", "center")) == dict(bookings=0, check_ins=0, no_shows=0, walk_ins=0, visitors=0,
                                                         business_volume=1, online_rate=0.0)
    assert _counts(_row(t, "2026-10", "east")) == dict(bookings=2, check_ins=0, no_shows=2, walk_ins=0, visitors=0,
                                                       business_volume=1, online_rate=0.0)
    assert _counts(_row(t, "2026-11", "center")) == dict(bookings=6, check_ins=5, no_shows=1, walk_ins=2, visitors=7,
                                                         business_volume=4, online_rate=0.75)
    assert _counts(_row(t, "2026-11", "east")) == dict(bookings=2, check_ins=1, no_shows=0, walk_ins=1, visitors=2,
                                                       business_volume=1, online_rate=1.0)
    assert _counts(_row(t, "2026-11", "all")) == dict(bookings=8, check_ins=6, no_shows=1, walk_ins=3, visitors=9,
                                                      business_volume=5, online_rate=0.8)
    assert _counts(_row(t, "2026-11", "west")) == dict(bookings=0, check_ins=0, no_shows=0, walk_ins=0, visitors=0,
                                                       business_volume=0, online_rate=None)
    assert _counts(t["total"]) == dict(bookings=10, check_ins=6, no_shows=3, walk_ins=3, visitors=9,
                                       business_volume=7, online_rate=0.5714)
    assert _row(t, "2026-11", "center")["avg_wait_seconds"] is None  # no hall queue calls recorded
    rates = t["online_rates"]
    assert rates["target"] == 0.9
    oct_, nov = rates["by_month"]
    assert oct_["overall"] == {"online": 0, "total": 2, "unknown_channel": 1, "rate": 0.0, "meets_target": False}
    assert nov["overall"] == {"online": 4, "total": 5, "unknown_channel": 0, "rate": 0.8, "meets_target": False}
    by_type = {i["business_type"]: i for i in nov["by_business_type"]}
    assert (by_type["secondhand_transfer"]["online"], by_type["secondhand_transfer"]["total"]) == (3, 4)
    assert by_type["mortgage_first"]["rate"] == 1.0 and by_type["mortgage_first"]["meets_target"] is True


async def test_average_wait_from_check_in_to_call_matches_the_hand_count(client, live, clock):
    await _fixture()
    await _queue_fixture()
    admin = await staff_headers(client)
    t = (await client.get("/api/staff/figures?from=2026-10-01&to=2026-11-30&by=month", headers=admin)).json()
    assert _row(t, "2026-11", "center")["avg_wait_seconds"] == 700  # (300 + 1200 + 600) / 3
    assert _row(t, "2026-11", "east")["avg_wait_seconds"] == 100
    assert _row(t, "2026-11", "all")["avg_wait_seconds"] == 550  # (300 + 1200 + 600 + 100) / 4
    assert _row(t, "2026-10", "east")["avg_wait_seconds"] is None and t["total"]["avg_wait_seconds"] == 550
    t = (await client.get("/api/staff/figures?from=2026-11-02&to=2026-11-02&by=day", headers=admin)).json()
    assert _row(t, "2026-11-02", "all")["avg_wait_seconds"] == 533  # (300 + 1200 + 100) / 3
    assert _row(t, "2026-11-02", "center")["avg_wait_seconds"] == 750
    east = await staff_headers(client, role="hall_staff", hall_code="east")
    t = (await client.get("/api/staff/figures?from=2026-11-01&to=2026-11-30&by=month", headers=east)).json()
    assert t["total"]["avg_wait_seconds"] == 100
    res = await client.get("/api/staff/figures?from=2026-11-01&to=2026-11-30&by=month&format=csv", headers=admin)
    assert "2026-11,all,8,6,1,3,9,5,80.0%,550" in res.content.decode("utf-8-sig").splitlines()


async def test_figures_by_day_and_week_and_the_hall_rule(client, live, clock):
    await _fixture()
    east = await staff_headers(client, role="hall_staff", hall_code="east")
    res = await client.get("/api/staff/figures?from=2026-11-02&to=2026-11-08&by=week&hall=center", headers=east)
    assert res.status_code == 403
    t = (await client.get("/api/staff/figures?from=2026-11-01&to=2026-11-10", headers=east)).json()
    assert {r["hall"] for r in t["rows"]} == {"east"} and t["hall"] == "east"
    assert _counts(_row(t, "2026-11-02", "east"))["visitors"] == 1
    assert _counts(_row(t, "2026-11-10", "east"))["walk_ins"] == 1
    assert t["total"]["business_volume"] == 1
    admin = await staff_headers(client)
    t = (await client.get("/api/staff/figures?from=2026-11-01&to=2026-11-14&by=week&hall=center",
                          headers=admin)).json()
    week = _row(t, "2026-11-02", "center")  # the week from Monday 2 November
    assert (week["bookings"], week["check_ins"], week["business_volume"], week["online_rate"]) == (4, 3, 3, 0.6667)
    assert _row(t, "2026-10-26", "center")["business_volume"] == 0  # Sunday 1 November, but 00:10 on the 2nd
    t = (await client.get("/api/staff/figures?from=2026-11-02&to=2026-11-02&by=day", headers=admin)).json()
    assert _counts(_row(t, "2026-11-02", "all")) == dict(bookings=6, check_ins=4, no_shows=1, walk_ins=2,
                                                         visitors=6, business_volume=3, online_rate=0.6667)


async def test_figures_input_is_checked(client, live, clock):
    admin = await staff_headers(client)
    for query, code in (("from=2026-11-10&to=2026-11-01", "INVALID_DATE_RANGE"),
                        ("from=2020-01-01&to=2026-11-01", "INVALID_DATE_RANGE"),
                        ("from=2026-11-01&to=2026-11-02&hall=nowhere", "HALL_NOT_FOUND")):
        res = await client.get(f"/api/staff/figures?{query}", headers=admin)
        assert res.status_code in (404, 422) and res.json()["error"]["code"] == code, res.text
    for query in ("from=2026-11-01", "from=2026-11-01&to=soon", "from=2026-11-01&to=2026-11-02&by=year"):
        res = await client.get(f"/api/staff/figures?{query}", headers=admin)
        assert res.status_code == 422 and res.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (await client.get("/api/staff/figures?from=2026-11-01&to=2026-11-02")).status_code == 401


async def test_figures_export_csv_and_xlsx(client, live, clock):
    from openpyxl import load_workbook

    await _fixture()
    admin = await staff_headers(client)
    base = "/api/staff/figures?from=2026-10-01&to=2026-11-30&by=month"
    res = await client.get(base + "&format=csv", headers=admin)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    lines = res.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "期间,大厅,预约量,签到数,爽约数,免预约,接待人数,业务量,网办率,平均等候（秒）"
    assert "2026-11,all,8,6,1,3,9,5,80.0%," in lines
    assert "2026-11,全部事项,4,5,80.0%,未达标" in lines
    res = await client.get(base + "&format=xlsx", headers=admin)
    assert res.status_code == 200 and res.content[:2] == b"PK"
    wb = load_workbook(io.BytesIO(res.content))
    rows = list(wb["运营数据"].iter_rows(values_only=True))
    assert rows[0][:3] == ("期间", "大厅", "预约量")
    assert ("2026-11", "all", 8, 6, 1, 3, 9, 5, 0.8, None) in rows
    rates = list(wb["网办率"].iter_rows(values_only=True))
    assert ("2026-11", "全部事项", 4, 5, 0.8, 0.9, "未达标") in rates


async def test_old_days_are_rolled_once_and_rebuilt_on_demand(client, live, clock):
    await _fixture()
    catalog, now = await flows.context(live.app)
    get = dict(catalog=catalog, start=date(2026, 10, 30), end=date(2026, 10, 30), hall="east", by="day",
               today=now.date())
    assert (await figures.get(**get))["total"]["no_shows"] == 2
    await _booking("2026-10-30", "east", "no_show")  # a late correction of a day older than LIVE_DAYS
    assert (await figures.get(**get))["total"]["no_shows"] == 2
    await figures.ensure_rolled(catalog, date(2026, 10, 30), date(2026, 10, 30), now.date(), rebuild=True)
    assert (await figures.get(**get))["total"]["no_shows"] == 3
    # Recent days are rolled again once their roll-up is older than FRESH (a minute).
    await _booking("2026-11-20", "east", "no_show")
    recent = dict(get, start=date(2026, 11, 20), end=date(2026, 11, 20))
    assert (await figures.get(**recent))["total"]["no_shows"] == 1
    await _booking("2026-11-20", "east", "no_show")
    assert (await figures.get(**recent))["total"]["no_shows"] == 1  # reused for a minute (FRESH)
    assert (await figures.get(**recent, max_age=timedelta(0)))["total"]["no_shows"] == 2


async def test_figures_command_prints_the_table(client, live, clock, settings, tmp_path):
    await _fixture()
    env = dict(os.environ, DENGJI_ENV="test", DENGJI_DATABASE_URL=settings.database_url,
               DENGJI_DATA_KEY=settings.data_key.get_secret_value(), DENGJI_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "server.cli", "figures", "--from", "2026-11-01", "--to",
                          "2026-11-30", "--by", "month", "--hall", "center"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["期间", "大厅", "预约量", "签到数", "爽约数", "免预约", "接待人数", "业务量", "网办率",
                                "平均等候（秒）"]
    assert lines[1].split() == ["2026-11", "center", "6", "5", "1", "2", "7", "4", "75.0%"]
    assert "网办率（目标 90%）" in out.stdout
