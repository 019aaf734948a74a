"""Load the editable seed files (config/data/*.yaml) into the database; safe to run again."""

from __future__ import annotations

from datetime import time

from config.seed_schema import load_seed
from config.settings import Settings
from models import BusinessType, CalendarDay, CenterSetting, DayKind, Hall


def _periods(sessions) -> list[list[str]]:
    return [[s.start.strftime("%H:%M"), s.end.strftime("%H:%M")] for s in sessions]


async def seed(settings: Settings) -> str:
    """Upsert halls, business types, calendar and centre settings from the seed files."""
    data = load_seed(settings.seed_dir)
    for h in data.halls:
        await Hall.update_or_create(code=h.code, defaults=dict(
            name=h.name, address=h.address, quota_per_slot=h.quota_per_slot, hotline_quota=h.hotline_quota,
            saturday_duty=h.saturday_duty, saturday_booking_only=h.saturday_booking_only,
            sessions={"weekday": _periods(h.sessions.weekday), "saturday": _periods(h.sessions.saturday)},
            review_mode=h.review_mode,
            cancel_release_delay_minutes=h.cancel_release_delay_minutes or 0,
        ))
    for b in data.business_types:
        await BusinessType.update_or_create(code=b.code, defaults=dict(
            name=b.name, short_name=b.short_name, handling=b.handling.value, handling_note=b.handling_note,
            booking=b.booking.value, time_limit_days=b.time_limit_days, public_notice_days=b.public_notice_days,
            time_limit_text=b.time_limit_text, fee=b.fee.model_dump(mode="json"), fee_payer=b.fee_payer,
            materials=b.materials, notes=b.notes, online_hint=b.online_hint, aliases=b.aliases,
        ))
    cal = data.calendar
    rows = [(d.date, DayKind.HOLIDAY, d.name, [], None) for d in cal.holidays]
    rows += [(d.date, DayKind.WORKDAY, d.name, [], None) for d in cal.workdays]
    rows += [(d.date, DayKind.EXTRA, d.name, [] if d.halls == "all" else d.halls,
              _periods(d.sessions) if d.sessions else None) for d in cal.extra_service_days]
    rows += [(d.date, DayKind.CLOSURE, d.reason, [] if d.halls == "all" else d.halls,
              _periods(d.sessions) if d.sessions else None) for d in cal.closures]
    for day, kind, name, halls, sessions in rows:
        await CalendarDay.update_or_create(date=day, kind=kind, name=name,
                                           defaults={"halls": halls, "sessions": sessions})
    for key, value in (
        ("booking_rules", {k: v.strftime("%H:%M") if isinstance(v, time) else v
                           for k, v in data.booking_rules.model_dump().items()}),
        ("center", data.center.model_dump(mode="json")),
        ("fee_policy", data.fee_policy.model_dump(mode="json")),
        ("walk_in_channels", [w.model_dump(mode="json") for w in data.walk_in_channels]),
    ):
        await CenterSetting.update_or_create(key=key, defaults={"value": value})
    return (f"已导入 {len(data.halls)} 个大厅、{len(data.business_types)} 个业务事项、"
            f"{len(rows)} 条日历记录")
