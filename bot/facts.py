"""The catalog's figures that bot answers quote: one source of truth for rules and answers.

Answers in the knowledge base write `{window_days}`, `{release_time}`, `{fee_residential}`, `{hours}`…
instead of the figures; the bot fills them from the same booking rules, fee policy, centre settings and
hall sessions the booking rules use (the catalog snapshot in the service, config/data offline), so changing
`window_days` or a fee changes the answer too.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any

SEED_DIR = Path(__file__).resolve().parents[1] / "config" / "data"


def _hm(t: time | str) -> str:
    """08:00 → 8:00, as the center writes times for citizens."""
    t = time.fromisoformat(t) if isinstance(t, str) else t
    return f"{t.hour}:{t.minute:02d}"


def _span(minutes: int) -> str:
    return f"{minutes // 60}小时" if minutes and minutes % 60 == 0 else f"{minutes}分钟"


def _periods_text(periods) -> str:
    parts = []
    for a, b in periods:
        label = "上午" if a.hour < 12 else "下午"
        parts.append(f"{label}{_hm(a)}–{_hm(b)}")
    return "，".join(parts)


def where_text(name: str, open_halls: list[str], paused: list[tuple[str, str]]) -> str:
    """Where a business type is handled, in words: every hall, or the halls open and those paused with why."""
    if not paused:
        return f"{name}可在各服务大厅办理。"
    text = f"{name}目前可在{'、'.join(open_halls)}办理" if open_halls else f"{name}目前各大厅均暂停办理"
    return text + "；" + "；".join(f"{hall}暂停办理（{reason}）" for hall, reason in paused) + "。"


def build(*, rules: Any, center: dict, fee: dict, weekday, saturday,
          where: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the placeholder values from booking rules, centre settings, fee policy and hall sessions;
    `where` maps business type codes to where they are handled (answers write `{where_<code>}`)."""
    hotline = center.get("hotline") or {}
    facts: dict[str, Any] = {
        "window_days": rules.window_days,
        "release_time": _hm(rules.release_time),
        "same_day_cutoff": _span(rules.same_day_cutoff_minutes),
        "cancel_cutoff": _span(rules.cancel_cutoff_minutes),
        "per_id_per_day": rules.per_id_per_day,
        "max_active": rules.max_active,
        "checkin_before": _span(rules.checkin_open_before_minutes),
        "no_show_limit": rules.no_show_limit,
        "no_show_window_days": rules.no_show_window_days,
        "suspension_days": rules.suspension_days,
        "slot_length": "半小时" if rules.slot_minutes == 30 else _span(rules.slot_minutes),
        "fee_residential": fee.get("residential"),
        "fee_nonresidential": fee.get("non_residential"),
        "certificate_fee": fee.get("certificate_fee"),
        "free_certificates": fee.get("free_certificates_per_case"),
        "small_micro_fee": ("小微企业免收登记费" if fee.get("small_micro_enterprise_exempt")
                            else "小微企业按标准收取登记费"),
        "hotline": hotline.get("number"),
        "hotline_hours": str(hotline.get("hours_text") or "").replace(" ", ""),
        "public_account": center.get("public_account"),
        "mini_program": center.get("mini_program"),
    }
    if weekday:
        facts["hours"] = _periods_text(weekday)
        if len(weekday) > 1:
            facts["lunch_break"] = f"{_hm(weekday[0][1])}–{_hm(weekday[1][0])}"
    if saturday:
        facts["saturday_hours"] = _periods_text(saturday)
    facts |= {f"where_{code}": text for code, text in (where or {}).items()}
    return {k: v for k, v in facts.items() if v is not None}


def from_catalog(catalog) -> dict[str, Any]:
    """Facts from a catalog snapshot (server/catalog/service.py): what the booking rules use right now."""
    halls = [h for h in catalog.halls.values() if h.active]
    weekday = halls[0].weekday if halls else ()
    saturday = next((h.saturday for h in halls if h.saturday), ())
    # Per-hall business scope: a pause at a hall changes the answers naming halls for that business.
    where = {bt.code: where_text(bt.name, [h.name for h in halls if catalog.pause_reason(h.code, bt.code) is None],
                                 [(h.name, catalog.pause_reason(h.code, bt.code)) for h in halls
                                  if catalog.pause_reason(h.code, bt.code) is not None])
             for bt in catalog.business_types.values() if bt.active}
    return build(rules=catalog.rules, center=dict(catalog.settings.get("center") or {}),
                 fee=dict(catalog.settings.get("fee_policy") or {}), weekday=weekday, saturday=saturday, where=where)


@lru_cache(maxsize=4)
def _from_seed(seed_dir: str, stamp: tuple) -> dict[str, Any]:
    # Only the four files the answers quote, read plainly: start-up time matters (the full seed validation
    # runs in `dengji db seed`).
    import yaml

    from config.seed_schema import BookingRules

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    read = lambda name: yaml.load((Path(seed_dir) / name).read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: E731
    halls = read("halls.yaml").get("halls") or []
    period = lambda ss: tuple((time.fromisoformat(x["start"]), time.fromisoformat(x["end"])) for x in ss or [])  # noqa: E731
    weekday = period((halls[0].get("sessions") or {}).get("weekday")) if halls else ()
    saturday = next((period(h["sessions"]["saturday"]) for h in halls if (h.get("sessions") or {}).get("saturday")), ())
    business = read("business_types.yaml")
    # The files hold no pauses (staff set them in the service): every business type at every hall.
    where = {b["code"]: where_text(b["name"], [], []) for b in business.get("business_types") or []}
    return build(rules=BookingRules.model_validate(read("booking_rules.yaml")), center=read("center.yaml"),
                 fee=business.get("fee_policy") or {}, weekday=weekday, saturday=saturday, where=where)


def load(seed_dir: Path | None = None) -> dict[str, Any]:
    """Facts from the seed files (config/data), for the bot outside the service (`dengji ask`, tests)."""
    seed_dir = Path(seed_dir or SEED_DIR)
    if not seed_dir.is_dir():
        return {}
    stamp = tuple((f.name, f.stat().st_mtime_ns) for f in sorted(seed_dir.glob("*.yaml")))
    return dict(_from_seed(str(seed_dir), stamp))
