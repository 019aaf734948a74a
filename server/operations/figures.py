"""Management figures (GET /api/staff/figures, `dengji figures`): bookings, check-ins, no-shows, walk-ins,
visitors (接待人数 = check-ins + walk-ins), business volume (cases accepted) and the online rate (网办率 = cases
filed online ÷ all cases accepted), per hall and center-wide, by day, week or month.

Definitions (one place, used by the API, the CLI and the exports):
- bookings: bookings whose slot falls in the period and that still stand (not cancelled by the citizen,
  declined in review or cancelled by the center);
- check_ins / no_shows: those of them checked in / marked no-show; walk_ins: green-channel visits;
- business_volume: cases accepted in the period (accepted_at, center time zone), by the case's hall;
- online_rate: cases filed online (by the citizen, or by an agency/bank/developer for them) ÷ all cases
  accepted, overall and per business type by month, against `online_rate_target` in center.yaml (90 %);
- avg_wait_seconds: average wait from getting a queue number (check-in of a booking, or a walk-in's number)
  to the first call at a window, over the hall queue's tickets called that day (`queue_ticket.issued_at` →
  `called_at`); tickets never called do not count. Summed per hall-day in SQL (`_queue_waits`).

Speed: figures are read from daily roll-ups (models/figures.py), one row per hall-day. A day is rolled the
first time it is asked for; days from LIVE_DAYS ago onwards are rolled again on every request (bookings and
check-ins still move), and the periodic job keeps them fresh. A correction to older data (a case back-dated
by the business system) needs `dengji figures --rebuild --from … --to …`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tortoise import connections, timezone
from tortoise.functions import Count, Min
from tortoise.transactions import in_transaction

from models import Booking, BookingStatus, Case, CaseFigureDay, FigureDay, WalkIn
from server.catalog.service import Catalog
from server.core.errors import Unprocessable

LIVE_DAYS = 7
FRESH = timedelta(seconds=60)  # a recent day's roll-up is reused for a minute (console refreshes)
MAX_DAYS = 731
ONLINE_CHANNELS = ("online_self", "online_agent")
CASE_CHANNELS = ("online_self", "online_agent", "hall", "unknown")
_CHANNEL_COLUMNS = {"online_self": "online_self", "online_agent": "online_agent", "hall": "at_hall",
                    "unknown": "unknown"}
FIELDS = ("bookings", "check_ins", "no_shows", "walk_ins", "visitors", "business_volume", "online_rate",
          "avg_wait_seconds")
LABELS = {"period": "期间", "hall": "大厅", "bookings": "预约量", "check_ins": "签到数", "no_shows": "爽约数",
          "walk_ins": "免预约", "visitors": "接待人数", "business_volume": "业务量", "online_rate": "网办率",
          "avg_wait_seconds": "平均等候（秒）"}
DEFAULT_TARGET = 0.9


def target(catalog: Catalog) -> float:
    """The online-rate target from center.yaml (90 % when the data names none)."""
    return float((catalog.settings.get("center") or {}).get("online_rate_target") or DEFAULT_TARGET)


# --------------------------------------------------------------------------- roll-ups


async def _queue_waits(catalog: Catalog, first: date, last: date) -> dict[tuple[date, str], tuple[int, int]]:
    """Sum and count of check-in → call waits per hall-day, summed by the database along the queue's
    (hall_code, date, status) index (every hall named, so the index's first column is bound)."""
    halls = sorted(catalog.halls)
    if not halls:
        return {}
    postgres = connections.get("default").capabilities.dialect == "postgres"
    seconds = ("EXTRACT(EPOCH FROM called_at - issued_at)" if postgres
               else "(julianday(called_at) - julianday(issued_at)) * 86400")
    marks = ", ".join(f"${n}" for n in range(3, 3 + len(halls)))
    rows = await _sql(
        f"SELECT date, hall_code, SUM(ROUND({seconds})) AS wait, COUNT(*) AS n FROM queue_ticket "
        f"WHERE date >= $1 AND date <= $2 AND hall_code IN ({marks}) AND called_at IS NOT NULL "
        f"GROUP BY date, hall_code", first, last, *halls)
    return {(_as_date(r["date"]), r["hall_code"]): (int(r["wait"] or 0), int(r["n"])) for r in rows}


def _day_bounds(catalog: Catalog, day: date) -> tuple[datetime, datetime]:
    begin = datetime.combine(day, time.min, tzinfo=catalog.tz)
    return begin, begin + timedelta(days=1)


async def roll_days(catalog: Catalog, days: list[date]) -> None:
    """Recompute the roll-up rows of some days from the bookings, walk-ins and cases (indexed reads, one query
    per table for the whole set of days), replacing them in one transaction."""
    if not days:
        return
    first, last = min(days), max(days)
    wanted = set(days)
    counts: dict[tuple[date, str], dict[str, int]] = {(d, h): {} for d in days for h in catalog.halls}
    # By slot_at (already indexed, and equivalent to the slot's date): no extra index on the booking hot path.
    since, _ = _day_bounds(catalog, first)
    _, until = _day_bounds(catalog, last)
    for day, hall_code, status, n in await (
            Booking.filter(slot_at__gte=since, slot_at__lt=until).annotate(n=Count("id"))
            .group_by("date", "hall_code", "status").values_list("date", "hall_code", "status", "n")):
        day = _as_date(day)
        if day in wanted:
            counts.setdefault((day, hall_code), {})[str(status)] = n
    walk: dict[tuple[date, str], int] = {}
    for day, hall_code, n in await (WalkIn.filter(date__gte=first, date__lte=last).annotate(n=Count("id"))
                                    .group_by("date", "hall_code").values_list("date", "hall_code", "n")):
        walk[(_as_date(day), hall_code)] = n
        counts.setdefault((_as_date(day), hall_code), {})
    waits = await _queue_waits(catalog, first, last)
    for key in waits:
        counts.setdefault(key, {})
    case_rows = []
    for day in sorted(wanted):
        begin, end = _day_bounds(catalog, day)
        cells: dict[tuple[str, str], CaseFigureDay] = {}
        for h, bt, ch, n in await (Case.filter(accepted_at__gte=begin, accepted_at__lt=end).annotate(n=Count("id"))
                                   .group_by("hall", "business_type", "channel")
                                   .values_list("hall", "business_type", "channel", "n")):
            cell = cells.setdefault((h, bt), CaseFigureDay(day=day, hall_code=h, business_type=bt))
            column = _CHANNEL_COLUMNS.get(ch or "unknown", "unknown")
            setattr(cell, column, getattr(cell, column) + n)
        case_rows += cells.values()
    gone = {BookingStatus.CANCELLED, BookingStatus.DECLINED, BookingStatus.CENTER_CANCELLED}
    now = timezone.now()
    rows = []
    for (day, hall_code), by in sorted(counts.items()):
        if day not in wanted:
            continue
        wait = waits.get((day, hall_code), (0, 0))
        rows.append(FigureDay(day=day, hall_code=hall_code, rolled_at=now,
                              bookings=sum(n for st, n in by.items() if st not in gone),
                              check_ins=by.get(BookingStatus.CHECKED_IN.value, 0),
                              no_shows=by.get(BookingStatus.NO_SHOW.value, 0), walk_ins=walk.get((day, hall_code), 0),
                              wait_seconds=wait[0], waits=wait[1]))
    async with in_transaction() as conn:
        await FigureDay.filter(day__in=list(wanted)).using_db(conn).delete()
        await CaseFigureDay.filter(day__in=list(wanted)).using_db(conn).delete()
        await FigureDay.bulk_create(rows, using_db=conn)
        if case_rows:
            await CaseFigureDay.bulk_create(case_rows, using_db=conn)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def ensure_rolled(catalog: Catalog, start: date, end: date, today: date, *, rebuild: bool = False,
                        max_age: timedelta = FRESH) -> int:
    """Roll every day of the range that has no roll-up yet, and the recent days again once their roll-up is
    older than max_age; return how many days were rolled."""
    live_from = today - timedelta(days=LIVE_DAYS)
    stale_before = timezone.now() - max_age
    rolled = {_as_date(d): at for d, at in await FigureDay.filter(day__gte=start, day__lte=end)
              .annotate(at=Min("rolled_at")).group_by("day").values_list("day", "at")}
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    todo = [d for d in days if rebuild or d not in rolled or (d >= live_from and rolled[d] <= stale_before)]
    for n in range(0, len(todo), 31):
        await roll_days(catalog, todo[n:n + 31])
    return len(todo)


# --------------------------------------------------------------------------- reading


@dataclass
class _Acc:
    bookings: int = 0
    check_ins: int = 0
    no_shows: int = 0
    walk_ins: int = 0
    business_volume: int = 0
    online: int = 0
    wait_seconds: int = 0
    waits: int = 0

    def row(self, **keys) -> dict:
        return keys | {
            "bookings": self.bookings, "check_ins": self.check_ins, "no_shows": self.no_shows,
            "walk_ins": self.walk_ins, "visitors": self.check_ins + self.walk_ins,
            "business_volume": self.business_volume,
            "online_rate": round(self.online / self.business_volume, 4) if self.business_volume else None,
            "avg_wait_seconds": round(self.wait_seconds / self.waits) if self.waits else None,
        }


async def _sql(sql: str, *params) -> list[dict]:
    """Run SQL written with PostgreSQL's $n; on SQLite they become "?" (bound in order: write them in order)."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        for n in range(len(params), 0, -1):
            sql = sql.replace(f"${n}", "?")
    return await conn.execute_query_dict(sql, list(params))


_ONLINE = "online_self + online_agent"  # ONLINE_CHANNELS
_TOTAL = "online_self + online_agent + at_hall + unknown"


def _period_sql(by: str, postgres: bool) -> str:
    """SQL naming a roll-up day's period, so the database sums by period and hands back a few rows."""
    if by == "month":
        return "to_char(day, 'YYYY-MM')" if postgres else "strftime('%Y-%m', day)"
    if by == "week":  # the Monday of the week
        return ("to_char(date_trunc('week', day), 'YYYY-MM-DD')" if postgres
                else "date(day, '-' || ((CAST(strftime('%w', day) AS INTEGER) + 6) % 7) || ' days')")
    return "to_char(day, 'YYYY-MM-DD')" if postgres else "day"


async def get(*, catalog: Catalog, start: date, end: date, hall: str | None, by: str, today: date,
              max_age: timedelta = FRESH) -> dict:
    """Return the figures table: rows per period and hall (and center-wide when no hall is given), totals,
    and the online rate by month and business type against the target."""
    if end < start:
        raise Unprocessable("结束日期不能早于开始日期", code="INVALID_DATE_RANGE")
    if (end - start).days >= MAX_DAYS:
        raise Unprocessable("统计区间最长两年", code="INVALID_DATE_RANGE")
    if hall is not None:
        catalog.hall(hall)
    await ensure_rolled(catalog, start, end, today, max_age=max_age)
    postgres = connections.get("default").capabilities.dialect == "postgres"
    period, month = _period_sql(by, postgres), _period_sql("month", postgres)
    hall_sql, params = ("AND hall_code = $3", (start, end, hall)) if hall else ("", (start, end))
    days = await _sql(
        f"SELECT {period} AS period, hall_code, SUM(bookings) AS bookings, SUM(check_ins) AS check_ins, "
        f"SUM(no_shows) AS no_shows, SUM(walk_ins) AS walk_ins, SUM(wait_seconds) AS wait_seconds, "
        f"SUM(waits) AS waits FROM figure_day WHERE day >= $1 AND day <= $2 {hall_sql} GROUP BY 1, 2", *params)
    case_days = await _sql(
        f"SELECT {period} AS period, hall_code, SUM({_TOTAL}) AS total, SUM({_ONLINE}) AS online "
        f"FROM case_figure_day WHERE day >= $1 AND day <= $2 {hall_sql} GROUP BY 1, 2", *params)
    per_type = await _sql(
        f"SELECT {month} AS month, business_type, SUM({_TOTAL}) AS total, SUM({_ONLINE}) AS online, "
        f"SUM(unknown) AS unknown "
        f"FROM case_figure_day WHERE day >= $1 AND day <= $2 {hall_sql} GROUP BY 1, 2", *params)
    acc: dict[tuple[str, str], _Acc] = {}
    total = _Acc()

    def _into(p, hall_code) -> list[_Acc]:
        keys = [(str(p), hall_code)] + ([] if hall else [(str(p), "all")])
        return [acc.setdefault(k, _Acc()) for k in keys] + [total]

    for r in days:
        for a in _into(r["period"], r["hall_code"]):
            a.bookings += int(r["bookings"])
            a.check_ins += int(r["check_ins"])
            a.no_shows += int(r["no_shows"])
            a.walk_ins += int(r["walk_ins"])
            a.wait_seconds += int(r["wait_seconds"])
            a.waits += int(r["waits"])
    for r in case_days:
        for a in _into(r["period"], r["hall_code"]):
            a.business_volume += int(r["total"])
            a.online += int(r["online"])
    rows = [a.row(period=p, hall=h) for (p, h), a in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] == "all",
                                                                                         kv[0][1]))]
    return {"from": start.isoformat(), "to": end.isoformat(), "by": by, "hall": hall, "fields": list(FIELDS),
            "rows": rows, "total": total.row(period=f"{start.isoformat()}~{end.isoformat()}", hall=hall or "all"),
            "online_rates": _online_rates(catalog, per_type)}


def _online_rates(catalog: Catalog, per_type: list[dict]) -> dict:
    goal = target(catalog)
    months: dict[str, dict[str, list[int]]] = {}
    for r in per_type:
        month = str(r["month"])
        cell = months.setdefault(month, {}).setdefault(r["business_type"], [0, 0, 0])
        cell[0] += int(r["online"])
        cell[1] += int(r["total"])
        cell[2] += int(r["unknown"])

    def rate(online: int, all_: int, unknown: int, **extra) -> dict:
        value = round(online / all_, 4) if all_ else None
        return extra | {"online": online, "total": all_, "unknown_channel": unknown, "rate": value,
                        "meets_target": None if value is None else value >= goal}

    out = []
    for month in sorted(months):
        types = months[month]
        sums = [sum(c[i] for c in types.values()) for i in range(3)]
        out.append({"month": month, "overall": rate(*sums), "by_business_type": [
            rate(*types[code], business_type=code,
                 name=catalog.business_types[code].name if code in catalog.business_types else code)
            for code in sorted(types)]})
    return {"target": goal, "by_month": out}


# --------------------------------------------------------------------------- exports


def flat_rows(table: dict) -> list[list]:
    """The table as rows of cells (header first), shared by the CSV, the .xlsx and the terminal."""
    cols = ["period", "hall", *FIELDS]
    out = [[LABELS[c] for c in cols]]
    for r in [*table["rows"], table["total"]]:
        out.append([("" if r[c] is None else (f"{r[c]:.1%}" if c == "online_rate" else r[c])) for c in cols])
    return out


def to_csv(table: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerows(flat_rows(table))
    writer.writerow([])
    goal = table["online_rates"]["target"]
    writer.writerow(["月份", "业务事项", "网办件数", "办件总数", "网办率", f"目标 {goal:.0%}"])
    for month in table["online_rates"]["by_month"]:
        for item in [{"name": "全部事项", **month["overall"]}, *month["by_business_type"]]:
            writer.writerow([month["month"], item["name"], item["online"], item["total"],
                             "" if item["rate"] is None else f"{item['rate']:.1%}",
                             "" if item["meets_target"] is None else ("达标" if item["meets_target"] else "未达标")])
    return buf.getvalue()


def to_xlsx(table: dict) -> bytes:
    """The figures and the online rates as a two-sheet workbook (openpyxl)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "运营数据"
    cols = ["period", "hall", *FIELDS]
    ws.append([LABELS[c] for c in cols])
    for r in [*table["rows"], table["total"]]:
        ws.append([r[c] for c in cols])
        if r["online_rate"] is not None:
            ws.cell(row=ws.max_row, column=cols.index("online_rate") + 1).number_format = "0.0%"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    rates = wb.create_sheet("网办率")
    rates.append(["月份", "业务事项", "网办件数", "办件总数", "网办率", "目标", "是否达标"])
    goal = table["online_rates"]["target"]
    for month in table["online_rates"]["by_month"]:
        for item in [{"name": "全部事项", **month["overall"]}, *month["by_business_type"]]:
            rates.append([month["month"], item["name"], item["online"], item["total"], item["rate"], goal,
                          None if item["meets_target"] is None else ("达标" if item["meets_target"] else "未达标")])
            rates.cell(row=rates.max_row, column=5).number_format = "0.0%"
            rates.cell(row=rates.max_row, column=6).number_format = "0%"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


