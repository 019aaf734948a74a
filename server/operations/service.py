"""Hall hours, Saturday duty, extended hours (延时服务 / 超前服务) and per-hall business scope, edited by staff.

Edits land in the database and move the catalog version (server.catalog.service.changed), so every worker
serves them within a second: no restart, no reseed. Bookings whose slot an edit removes are cancelled for
the center and their citizens told, like a closure.
"""

from __future__ import annotations

from datetime import date, datetime, time

from tortoise.exceptions import IntegrityError

from bot import facts as bot_facts
from models import Booking, Hall, HallScopePause
from server.booking import flows as booking_flows
from server.catalog import editing
from server.catalog import service as catalog_service
from server.catalog.service import Catalog, HallInfo
from server.core.errors import NotFound, Unprocessable
from server.operations import closures

EXTENDED_KINDS = {"late": "延时服务", "early": "超前服务"}
HOURS_FIELDS = ("weekday", "saturday", "saturday_duty", "saturday_booking_only", "extended")


def _overlap(periods: list[list[str]]) -> bool:
    ordered = sorted(periods)
    return any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1))


def _extended(raw: list[dict], slot_minutes: int, weekday: list[list[str]]) -> list[dict]:
    out = []
    for item in raw:
        if item["kind"] not in EXTENDED_KINDS:
            raise Unprocessable("延时服务类型应为 late（延时服务）或 early（超前服务）", code="INVALID_EXTENDED")
        (start, end), = editing._sessions([item], slot_minutes)
        first, last = item.get("from"), item.get("until")
        if first and last and last < first:
            raise Unprocessable("延时服务的结束日期不能早于开始日期", code="INVALID_DATE_RANGE")
        out.append({"kind": item["kind"], "start": start, "end": end,
                    "from": first.isoformat() if first else None, "until": last.isoformat() if last else None})
    if _overlap(weekday + [[e["start"], e["end"]] for e in out]):
        raise Unprocessable("延时服务时段不能与工作日服务时段重叠", code="INVALID_SESSION")
    return out


def plan_hours(catalog: Catalog, hall: Hall, changes: dict) -> dict:
    """Validate an hours edit against the same rules as halls.yaml; return the hall fields to write."""
    step = catalog.rules.slot_minutes
    sessions = dict(hall.sessions or {})
    if changes.get("weekday") is not None:
        sessions["weekday"] = editing._sessions(changes["weekday"], step)
    if changes.get("saturday") is not None:
        sessions["saturday"] = editing._sessions(changes["saturday"], step)
    for key in ("weekday", "saturday"):
        if _overlap(sessions.get(key) or []):
            raise Unprocessable("服务时段不能相互重叠", code="INVALID_SESSION")
    if changes.get("extended") is not None:
        sessions["extended"] = _extended(changes["extended"], step, sessions.get("weekday") or [])
    duty = changes.get("saturday_duty", hall.saturday_duty)
    booking_only = changes.get("saturday_booking_only", hall.saturday_booking_only)
    if duty is None:
        duty = hall.saturday_duty
    if booking_only is None:
        booking_only = hall.saturday_booking_only
    if not duty and changes.get("saturday") is None:
        sessions["saturday"] = []  # turning Saturday duty off clears its hours
    if duty and not sessions.get("saturday"):
        raise Unprocessable("周六值班须填写周六值班时段", code="SATURDAY_SESSIONS_REQUIRED")
    if not duty and sessions.get("saturday"):
        raise Unprocessable("不值班的大厅不能设置周六时段", code="SATURDAY_SESSIONS_FORBIDDEN")
    if booking_only and not duty:
        raise Unprocessable("不值班的大厅不能设置“周六只办理预约业务”", code="SATURDAY_BOOKING_ONLY_INVALID")
    if not sessions.get("weekday"):
        raise Unprocessable("工作日服务时段不能为空（临时停止服务请使用闭厅）", code="SESSIONS_REQUIRED")
    return {"sessions": sessions, "saturday_duty": duty, "saturday_booking_only": booking_only}


async def _orphaned(catalog: Catalog, hall: HallInfo, today: date) -> list[Booking]:
    bookings = await Booking.filter(hall_code=hall.code, date__gte=today,
                                    status__in=closures.TOUCHABLE).order_by("slot_at")
    return [b for b in bookings if time.fromisoformat(b.start) not in catalog.slot_starts(hall.code, b.date)]


async def update_hours(app, *, code: str, changes: dict, now: datetime) -> dict:
    """Change a hall's hours, Saturday duty or extended hours; cancel (and tell) bookings in removed slots."""
    hall = await Hall.get_or_none(code=code)
    if hall is None:
        raise NotFound("大厅不存在", code="HALL_NOT_FOUND")
    catalog = await catalog_service.get(app)
    fields = plan_hours(catalog, hall, changes)
    out = await booking_flows.update_hall(app, code=code, changes=fields)
    catalog = await catalog_service.get(app)
    orphaned = await _orphaned(catalog, catalog.halls[code], now.date())
    cancelled = await closures.cancel_for_center(app.ctx, bookings=orphaned, reason="大厅服务时间调整",
                                                 closure_id=None, now=now)
    await closures.notify(app.ctx.jobs, cancelled)
    return out | {"cancelled_bookings": len(cancelled)}


# --------------------------------------------------------------------------- business scope


async def pause(app, *, hall_code: str, business_type: str, reason: str, staff_id: int) -> dict:
    """Pause a business type at one hall with a reason; booking, walk-ins and the bot follow it."""
    catalog = await catalog_service.get(app)
    catalog.hall(hall_code)
    catalog.business_type(business_type)
    try:
        pause_row, created = await HallScopePause.get_or_create(
            hall_code=hall_code, business_type=business_type, defaults={"reason": reason, "staff_id": staff_id})
    except IntegrityError:  # a concurrent pause of the same pair
        pause_row, created = await HallScopePause.get(hall_code=hall_code, business_type=business_type), False
    if not created:
        pause_row.reason, pause_row.staff_id = reason, staff_id
        await pause_row.save(update_fields=["reason", "staff_id", "updated_at"])
    await catalog_service.changed(app)
    return scope_read(await catalog_service.get(app), hall_code)


async def resume(app, *, hall_code: str, business_type: str) -> dict:
    """Let a hall handle a paused business type again."""
    catalog = await catalog_service.get(app)
    catalog.hall(hall_code)
    if not await HallScopePause.filter(hall_code=hall_code, business_type=business_type).delete():
        raise NotFound("该大厅未暂停此业务", code="PAUSE_NOT_FOUND")
    await catalog_service.changed(app)
    return scope_read(await catalog_service.get(app), hall_code)


def scope_read(catalog: Catalog, hall_code: str) -> dict:
    """Every active business type of a hall with whether it is handled there and, if paused, why."""
    hall = catalog.hall(hall_code)
    return {"hall": hall.code, "hall_name": hall.name, "items": [
        {"business_type": bt.code, "name": bt.name, "paused": catalog.pause_reason(hall.code, bt.code) is not None,
         "reason": catalog.pause_reason(hall.code, bt.code)}
        for bt in catalog.business_types.values() if bt.active]}


def where_handled(catalog: Catalog, business_type: str) -> str:
    """Answer "where can I do X" for the bot: the halls that handle it, and those paused with their reason
    (the bot quotes the same text as `{where_<code>}`, bot/facts.py)."""
    bt = catalog.business_types.get(business_type)
    if bt is None or not bt.active:
        return ""
    halls = [h for h in catalog.halls.values() if h.active]
    return bot_facts.where_text(bt.name, [h.name for h in halls if catalog.pause_reason(h.code, bt.code) is None],
                                [(h.name, catalog.pause_reason(h.code, bt.code)) for h in halls
                                 if catalog.pause_reason(h.code, bt.code) is not None])
