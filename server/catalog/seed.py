"""Load the editable seed files (config/data/*.yaml) into the database; safe to run again."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from config.seed_schema import load_seed
from config.settings import Settings
from models import BusinessType, CalendarDay, CenterSetting, DayKind, Hall

_parsed: dict[tuple, object] = {}


def _load(data_dir: Path):
    """Parse the seed files once per content version (tests seed before every test)."""
    stamp = (str(data_dir), *((f.name, f.stat().st_mtime_ns) for f in sorted(Path(data_dir).glob("*.yaml"))))
    if stamp not in _parsed:
        _parsed.clear()
        _parsed[stamp] = load_seed(data_dir)
    return _parsed[stamp]


def _periods(sessions) -> list[list[str]]:
    return [[s.start.strftime("%H:%M"), s.end.strftime("%H:%M")] for s in sessions]


async def _upsert(model, key: tuple[str, ...], rows: list[dict]) -> None:
    """Insert missing rows in bulk and update existing ones, matching on the key fields."""
    existing = {tuple(getattr(o, k) for k in key): o for o in await model.all()}
    new = []
    for row in rows:
        obj = existing.get(tuple(row[k] for k in key))
        if obj is None:
            new.append(model(**row))
        elif any(getattr(obj, f) != v for f, v in row.items()):
            await obj.update_from_dict(row).save()
    if new:
        await model.bulk_create(new)


async def seed(settings: Settings) -> str:
    """Upsert halls, business types, calendar and centre settings from the seed files."""
    data = _load(settings.seed_dir)
    await _upsert(Hall, ("code",), [dict(
        code=h.code, name=h.name, address=h.address, quota_per_slot=h.quota_per_slot,
        hotline_quota=h.hotline_quota, saturday_duty=h.saturday_duty, saturday_booking_only=h.saturday_booking_only,
        sessions={"weekday": _periods(h.sessions.weekday), "saturday": _periods(h.sessions.saturday),
                  "extended": [{"kind": e.kind, "start": e.start.strftime("%H:%M"), "end": e.end.strftime("%H:%M"),
                                "from": e.start_date.isoformat() if e.start_date else None,
                                "until": e.until.isoformat() if e.until else None}
                               for e in h.sessions.extended]},
        review_mode=h.review_mode, cancel_release_delay_minutes=h.cancel_release_delay_minutes or 0,
    ) for h in data.halls])
    await _upsert(BusinessType, ("code",), [dict(
        code=b.code, name=b.name, short_name=b.short_name, handling=b.handling.value, handling_note=b.handling_note,
        booking=b.booking.value, time_limit_days=b.time_limit_days, public_notice_days=b.public_notice_days,
        time_limit_text=b.time_limit_text, fee=b.fee.model_dump(mode="json"), fee_payer=b.fee_payer,
        materials=b.materials, notes=b.notes, online_hint=b.online_hint, aliases=b.aliases,
        online_schedule=[{"from": st.start_date.isoformat(), "handling": st.handling.value,
                          "booking": st.booking.value, "online_hint": st.online_hint} for st in b.online_schedule],
    ) for b in data.business_types])
    cal = data.calendar
    rows = [(d.date, DayKind.HOLIDAY, d.name, [], None) for d in cal.holidays]
    rows += [(d.date, DayKind.WORKDAY, d.name, [], None) for d in cal.workdays]
    rows += [(d.date, DayKind.EXTRA, d.name, [] if d.halls == "all" else d.halls,
              _periods(d.sessions) if d.sessions else None) for d in cal.extra_service_days]
    rows += [(d.date, DayKind.CLOSURE, d.reason, [] if d.halls == "all" else d.halls,
              _periods(d.sessions) if d.sessions else None) for d in cal.closures]
    await _upsert(CalendarDay, ("date", "kind", "name"), [
        dict(date=day, kind=kind, name=name, halls=halls, sessions=sessions)
        for day, kind, name, halls, sessions in rows])
    booking_rules = {k: v.strftime("%H:%M") if isinstance(v, time) else v
                     for k, v in data.booking_rules.model_dump().items()}
    await _upsert(CenterSetting, ("key",), [
        {"key": "booking_rules", "value": booking_rules},
        {"key": "center", "value": data.center.model_dump(mode="json")},
        {"key": "calendar", "value": {"provisional_years": sorted(cal.provisional_years)}},
        {"key": "fee_policy", "value": data.fee_policy.model_dump(mode="json")},
        {"key": "walk_in_channels", "value": [w.model_dump(mode="json") for w in data.walk_in_channels]},
    ])
    return (f"已导入 {len(data.halls)} 个大厅、{len(data.business_types)} 个业务事项、"
            f"{len(rows)} 条日历记录")
