"""The catalog: halls, business types, booking rules and the service calendar, as one cached snapshot.

Availability is polled constantly, so each worker keeps an immutable snapshot in memory and reloads it
when the version in Redis moves (staff edits bump it); the version is checked at most once a second.
"""

from __future__ import annotations

import asyncio
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from config.seed_schema import BookingRules
from models import BusinessType, CalendarDay, CenterSetting, DayKind, Hall, HallScopePause
from server.core.errors import NotFound
from server.core.redis import UNAVAILABLE, Outbox, after_commit

Period = tuple[time, time]


def _periods(raw: list | None) -> tuple[Period, ...]:
    return tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in raw or [])


@dataclass(frozen=True)
class Extended:
    """Extended hours (延时服务 "late" / 超前服务 "early") added to a hall's working-day sessions."""

    kind: str
    period: Period
    first: date | None = None
    last: date | None = None

    def on(self, day: date) -> bool:
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)


def _extended(raw: list | None) -> tuple[Extended, ...]:
    return tuple(Extended(e["kind"], (time.fromisoformat(e["start"]), time.fromisoformat(e["end"])),
                          date.fromisoformat(e["from"]) if e.get("from") else None,
                          date.fromisoformat(e["until"]) if e.get("until") else None) for e in raw or [])


@dataclass(frozen=True)
class Mode:
    """How a business type is handled on a given day (its online rollout applied)."""

    handling: str  # online | optional_online | hall_only
    booking: str  # none_online | required | walk_in
    online_hint: str | None
    since: date | None = None


HANDLING_TEXT = {"online": "全程网办", "optional_online": "可选网办", "hall_only": "仅窗口办理"}


@dataclass(frozen=True)
class HallInfo:
    id: int
    code: str
    name: str
    address: str
    quota_per_slot: int
    hotline_quota: int
    saturday_duty: bool
    saturday_booking_only: bool
    weekday: tuple[Period, ...]
    saturday: tuple[Period, ...]
    review_mode: bool
    cancel_release_delay_minutes: int
    active: bool
    extended: tuple[Extended, ...] = ()

    @property
    def online_quota(self) -> int:
        return self.quota_per_slot - self.hotline_quota


@dataclass(frozen=True)
class DayEntry:
    kind: DayKind
    name: str
    halls: frozenset[str]  # empty = every hall
    sessions: tuple[Period, ...] | None

    def applies_to(self, hall_code: str) -> bool:
        return not self.halls or hall_code in self.halls


@dataclass
class Catalog:
    halls: dict[str, HallInfo]
    business_types: dict[str, BusinessType]
    rules: BookingRules
    settings: dict[str, object]
    days: dict[date, list[DayEntry]]
    tz: ZoneInfo
    # (hall code, business type code) -> reason: business paused at one hall (per-hall scope).
    paused: dict[tuple[str, str], str] = field(default_factory=dict)
    halls_by_id: dict[int, HallInfo] = field(init=False)
    # A snapshot never changes (an edit loads a new one), so slot lists are computed once per hall-day.
    _starts: dict[tuple[str, date], list[time]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.halls_by_id = {h.id: h for h in self.halls.values()}

    def now(self) -> datetime:
        return datetime.now(self.tz)

    def hall(self, code: str) -> HallInfo:
        hall = self.halls.get(code)
        if hall is None or not hall.active:
            raise NotFound("大厅不存在", code="HALL_NOT_FOUND")
        return hall

    def hall_by_id(self, hall_id: int) -> HallInfo:
        hall = self.halls_by_id.get(hall_id)
        if hall is None or not hall.active:
            raise NotFound("大厅不存在", code="HALL_NOT_FOUND")
        return hall

    def business_type(self, code: str) -> BusinessType:
        bt = self.business_types.get(code)
        if bt is None or not bt.active:
            raise NotFound("业务事项不存在", code="BUSINESS_TYPE_NOT_FOUND")
        return bt

    def mode_on(self, bt: BusinessType, day: date) -> Mode:
        """Return how a business type is handled on a day: the last online_schedule entry in force, else its own."""
        mode = Mode(bt.handling, bt.booking, bt.online_hint)
        for step in sorted(bt.online_schedule or (), key=lambda e: e["from"]):
            since = date.fromisoformat(step["from"])
            if since <= day:
                mode = Mode(step.get("handling", mode.handling), step.get("booking", mode.booking),
                            step.get("online_hint", mode.online_hint), since)
        return mode

    def pause_reason(self, hall_code: str, business_type: str) -> str | None:
        """Return why a business type is paused at a hall, or None when the hall handles it."""
        return self.paused.get((hall_code, business_type))

    def is_provisional(self, day: date) -> bool:
        """Tell whether a day's year has only a provisional calendar (calendar.yaml provisional_years: the State
        Council has not published its holidays yet, so holidays and make-up workdays may still change)."""
        return day.year in ((self.settings.get("calendar") or {}).get("provisional_years") or ())

    def provisional_note(self, day: date) -> str | None:
        """What citizens are told about a date of a provisional year, else None."""
        if not self.is_provisional(day):
            return None
        return f"{day.year}年节假日安排尚未正式公布，该日期按暂定日历计算，如有调整将另行通知"

    def hotline_hours(self) -> tuple[time, time]:
        """The hotline's answering hours on working days (center.yaml hotline.start / hotline.end)."""
        hotline = (self.settings.get("center") or {}).get("hotline") or {}
        return (time.fromisoformat(str(hotline.get("start", "09:00"))),
                time.fromisoformat(str(hotline.get("end", "17:00"))))

    def hotline_open(self, now: datetime) -> bool:
        """Tell whether the hotline answers calls now: working days (make-up workdays included, holidays not),
        from hotline.start until hotline.end, center time."""
        start, end = self.hotline_hours()
        local = now.astimezone(self.tz)
        return self.is_working_day(local.date()) and start <= local.time() < end

    def is_booking_only(self, hall_code: str, day: date) -> bool:
        """Tell whether a hall serves bookings only that day (Saturday duty with saturday_booking_only)."""
        hall = self.hall(hall_code)
        if day.weekday() != 5 or not hall.saturday_booking_only:
            return False
        extra = any(e.applies_to(hall_code) for e in self.entries(day, DayKind.EXTRA))
        return not extra and not self.entries(day, DayKind.WORKDAY)

    def entries(self, day: date, kind: DayKind) -> list[DayEntry]:
        return [e for e in self.days.get(day, ()) if e.kind == kind]

    def is_holiday(self, day: date) -> bool:
        return bool(self.entries(day, DayKind.HOLIDAY))

    def is_working_day(self, day: date) -> bool:
        """Tell whether a day counts toward promised time limits (holidays and make-up days respected)."""
        if self.is_holiday(day):
            return False
        if self.entries(day, DayKind.WORKDAY):
            return True
        return day.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """Return the date n working days after start (0 → start itself if it is a working day)."""
        day = start
        while not self.is_working_day(day):
            day += timedelta(days=1)
        while n > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def sessions_for(self, hall_code: str, day: date) -> tuple[Period, ...]:
        """Return the service periods of a hall on a day, after holidays, extra days and closures."""
        hall = self.hall(hall_code)
        extra = [e for e in self.entries(day, DayKind.EXTRA) if e.applies_to(hall_code)]
        if extra:
            sessions = extra[0].sessions or hall.weekday
        elif self.is_holiday(day):
            sessions = ()
        elif self.entries(day, DayKind.WORKDAY) or day.weekday() < 5:
            sessions = hall.weekday
            extended = tuple(e.period for e in hall.extended if e.on(day))
            if extended:
                sessions = tuple(sorted(sessions + extended))
        elif day.weekday() == 5:
            sessions = hall.saturday
        else:
            sessions = ()
        for closure in self.entries(day, DayKind.CLOSURE):
            if not closure.applies_to(hall_code):
                continue
            if closure.sessions is None:
                return ()
            sessions = tuple(s for s in sessions
                             if not any(s[0] < c[1] and c[0] < s[1] for c in closure.sessions))
        return sessions

    def slot_starts(self, hall_code: str, day: date) -> list[time]:
        """Return the start times of the bookable slots of a hall on a day (shared: do not modify)."""
        found = self._starts.get((hall_code, day))
        if found is None:
            if len(self._starts) > 10_000:
                self._starts.clear()
            found = self._starts[(hall_code, day)] = self._compute_starts(hall_code, day)
        return found

    def _compute_starts(self, hall_code: str, day: date) -> list[time]:
        step = self.rules.slot_minutes
        starts: list[time] = []
        for begin, end in self.sessions_for(hall_code, day):
            t = datetime.combine(day, begin)
            while t + timedelta(minutes=step) <= datetime.combine(day, end):
                starts.append(t.time())
                t += timedelta(minutes=step)
        return starts


async def load() -> Catalog:
    """Read the whole catalog from the database."""
    halls = {
        h.code: HallInfo(
            id=h.id, code=h.code, name=h.name, address=h.address, quota_per_slot=h.quota_per_slot,
            hotline_quota=h.hotline_quota, saturday_duty=h.saturday_duty,
            saturday_booking_only=h.saturday_booking_only, weekday=_periods(h.sessions.get("weekday")),
            saturday=_periods(h.sessions.get("saturday")), review_mode=h.review_mode,
            cancel_release_delay_minutes=h.cancel_release_delay_minutes, active=h.active,
            extended=_extended(h.sessions.get("extended")),
        )
        for h in await Hall.all()
    }
    settings = {s.key: s.value for s in await CenterSetting.all()}
    days: dict[date, list[DayEntry]] = {}
    for d in await CalendarDay.all():
        days.setdefault(d.date, []).append(
            DayEntry(d.kind, d.name, frozenset(d.halls or ()), _periods(d.sessions) if d.sessions else None))
    rules = BookingRules.model_validate(settings.get("booking_rules") or {})
    tz = ZoneInfo(str((settings.get("center") or {}).get("timezone", "Asia/Shanghai")))
    paused = {(p.hall_code, p.business_type): p.reason for p in await HallScopePause.all()}
    return Catalog(halls=halls, business_types={b.code: b for b in await BusinessType.all()}, rules=rules,
                   settings=settings, days=days, tz=tz, paused=paused)


_CHECK_EVERY = 1.0


async def get(app) -> Catalog:
    """Return this worker's catalog snapshot, reloading it when another worker changed the data."""
    state = app.ctx.__dict__.setdefault("_catalog", {"catalog": None, "version": None, "checked": 0.0,
                                                     "refresh": None})
    if state["catalog"] is not None and _time.monotonic() - state["checked"] < _CHECK_EVERY:
        return state["catalog"]
    # One check at a time: a burst of requests arriving as the snapshot ages shares one Redis read.
    refresh = state["refresh"]
    if refresh is None:
        refresh = state["refresh"] = asyncio.ensure_future(_refresh(app, state))
        refresh.add_done_callback(lambda _: state.__setitem__("refresh", None))
    return await asyncio.shield(refresh)


async def _refresh(app, state: dict) -> Catalog:
    now = _time.monotonic()
    try:
        version = await app.ctx.redis.get(app.ctx.keys("catalog", "version"))
    except UNAVAILABLE:
        # Without Redis no worker can announce an edit: keep serving the snapshot this worker has.
        if state["catalog"] is not None:
            state["checked"] = now
            return state["catalog"]
        version = None
    if state["catalog"] is None or version != state["version"]:
        state["catalog"] = await load()
        state["version"] = version
    state["checked"] = now
    return state["catalog"]


async def changed(app) -> None:
    """Mark the catalog as changed so every worker reloads it (this one at once)."""
    app.ctx.__dict__.pop("_catalog", None)
    # The edit has committed: when Redis is away the announcement waits in the outbox.
    outbox = app.ctx.__dict__.setdefault("_catalog_outbox", Outbox())
    await after_commit(outbox, "catalog version", lambda: app.ctx.redis.incr(app.ctx.keys("catalog", "version")))


async def bump_version(settings) -> None:
    """Move the catalog version from outside the service (`dengji db seed`) so running workers reload."""
    from server.core.redis import Keys, create_redis

    if not settings.redis_url:
        return  # the embedded stand-in lives inside the one service process, which reloads on its own restart
    redis = create_redis(settings)
    try:
        await redis.incr(Keys(settings.redis_prefix)("catalog", "version"))
    finally:
        await redis.aclose()


def hall_read(hall: HallInfo, catalog: Catalog) -> dict:
    fmt = lambda periods: [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in periods]  # noqa: E731
    return {
        "id": hall.id, "code": hall.code, "name": hall.name, "address": hall.address,
        "quota_per_slot": hall.quota_per_slot, "online_quota": hall.online_quota,
        "hotline_quota": hall.hotline_quota, "saturday_duty": hall.saturday_duty,
        "saturday_booking_only": hall.saturday_booking_only,
        "sessions": {"weekday": fmt(hall.weekday), "saturday": fmt(hall.saturday)},
        "extended": [{"kind": e.kind, "start": e.period[0].strftime("%H:%M"), "end": e.period[1].strftime("%H:%M"),
                      "from": e.first.isoformat() if e.first else None,
                      "until": e.last.isoformat() if e.last else None} for e in hall.extended],
        "paused_business": {bt: reason for (h, bt), reason in sorted(catalog.paused.items()) if h == hall.code},
        "review_mode": hall.review_mode,
    }


def business_type_read(bt: BusinessType, catalog: Catalog | None = None, day: date | None = None) -> dict:
    out = _business_type_fields(bt)
    if catalog is not None:
        mode = catalog.mode_on(bt, day or catalog.now().date())
        # The online rollout in force today replaces the file's handling, booking and hint.
        out |= {"handling": mode.handling, "booking": mode.booking, "online_hint": mode.online_hint,
                "handling_text": HANDLING_TEXT.get(mode.handling, mode.handling),
                "online_schedule": list(bt.online_schedule or [])}
    return out


def _business_type_fields(bt: BusinessType) -> dict:
    return {
        "code": bt.code, "name": bt.name, "short_name": bt.short_name, "handling": bt.handling,
        "handling_note": bt.handling_note, "booking": bt.booking, "time_limit_days": bt.time_limit_days,
        "public_notice_days": bt.public_notice_days, "time_limit_text": bt.time_limit_text, "fee": bt.fee,
        "fee_payer": bt.fee_payer, "materials": bt.materials, "notes": bt.notes, "online_hint": bt.online_hint,
    }
