"""Staff edits of catalog data: hall settings and the service calendar (holidays, make-up days,
extra service days, closures). Every edit ends with `service.changed` so all workers reload."""

from __future__ import annotations

from datetime import date, datetime, time

from models import CalendarDay, DayKind, Hall
from server.catalog import service
from server.core.errors import Conflict, NotFound, Unprocessable


async def update_hall(app, *, code: str, **changes) -> Hall:
    """Change a hall's booking settings (review mode, quotas, release delay)."""
    hall = await Hall.get_or_none(code=code) if len(code) <= 32 else None
    if hall is None:
        raise NotFound("大厅不存在", code="HALL_NOT_FOUND")
    for key, value in changes.items():
        if value is not None:
            setattr(hall, key, value)
    if hall.hotline_quota > hall.quota_per_slot:
        raise Unprocessable("热线预留号数不能大于每个时段的总号数", code="HOTLINE_QUOTA_TOO_LARGE")
    await hall.save()
    await service.changed(app)
    return hall


def _sessions(raw: list[dict] | None, slot_minutes: int) -> list[list[str]] | None:
    if raw is None:
        return None
    out = []
    for item in raw:
        try:
            begin, end = time.fromisoformat(item["start"].zfill(5)), time.fromisoformat(item["end"].zfill(5))
        except ValueError as exc:
            raise Unprocessable("时段格式应为 HH:MM", code="INVALID_TIME") from exc
        minutes = (datetime.combine(date.min, end) - datetime.combine(date.min, begin)).seconds // 60
        if begin >= end or minutes % slot_minutes:
            raise Unprocessable(f"时段须开始早于结束，且长度为 {slot_minutes} 分钟的整数倍", code="INVALID_SESSION")
        out.append([begin.strftime("%H:%M"), end.strftime("%H:%M")])
    return out


async def get_all_days(*, start: date | None = None, end: date | None = None) -> list[CalendarDay]:
    qs = CalendarDay.all()
    if start:
        qs = qs.filter(date__gte=start)
    if end:
        qs = qs.filter(date__lte=end)
    return await qs.order_by("date", "kind")


async def create_day(app, *, day: date, kind: DayKind, name: str, halls: list[str],
                     sessions: list[dict] | None) -> CalendarDay:
    """Add a holiday, make-up workday, extra service day or closure."""
    catalog = await service.get(app)
    unknown = [h for h in halls if h not in catalog.halls]
    if unknown:
        raise Unprocessable(f"大厅编码不存在：{'、'.join(unknown)}", code="HALL_NOT_FOUND")
    if kind in (DayKind.HOLIDAY, DayKind.WORKDAY) and (halls or sessions):
        raise Unprocessable("法定节假日与调休上班日适用于全部大厅，不能指定大厅或时段", code="INVALID_CALENDAR_DAY")
    if kind == DayKind.WORKDAY and day.weekday() < 5:
        raise Unprocessable("调休上班日只能是周六或周日", code="INVALID_CALENDAR_DAY")
    opposite = {DayKind.HOLIDAY: DayKind.WORKDAY, DayKind.WORKDAY: DayKind.HOLIDAY}.get(kind)
    if opposite and await CalendarDay.exists(date=day, kind=opposite):
        raise Conflict("同一日期不能既是节假日又是调休上班日", code="CALENDAR_CONFLICT")
    if await CalendarDay.exists(date=day, kind=kind, name=name):
        raise Conflict("该日期已有同名记录", code="CALENDAR_EXISTS")
    entry = await CalendarDay.create(date=day, kind=kind, name=name, halls=halls,
                                     sessions=_sessions(sessions, catalog.rules.slot_minutes))
    await service.changed(app)
    return entry


async def delete_day(app, *, day_id: int) -> None:
    """Remove a calendar entry."""
    deleted = await CalendarDay.filter(id=day_id).delete()
    if not deleted:
        raise NotFound("日历记录不存在", code="CALENDAR_DAY_NOT_FOUND")
    await service.changed(app)


def day_read(entry: CalendarDay) -> dict:
    return {"id": entry.id, "date": entry.date.isoformat(), "kind": DayKind(entry.kind).value, "name": entry.name,
            "halls": entry.halls or [], "sessions": entry.sessions}
