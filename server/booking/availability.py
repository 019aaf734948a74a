"""Slot availability: lazily created per-channel counters, the booking window, and a read cache.

Availability is polled constantly. Each worker caches the counters of one hall-day in memory, tagged with
a version kept in Redis; every change (booking, cancellation, release, quota edit) bumps the version after
it commits, so the next read in any worker refetches. A read costs one Redis GET when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tortoise.exceptions import IntegrityError

from models import BookingChannel, SlotCounter
from server.catalog.service import Catalog, HallInfo
from server.core.errors import Unprocessable

_CACHE_LIMIT = 5000


@dataclass(frozen=True)
class Window:
    today: date
    last_day: date  # last day of the window (today + window_days - 1)
    released_until: date  # last day whose places are already released

    def contains(self, day: date) -> bool:
        return self.today <= day <= self.last_day


def window(catalog: Catalog, now: datetime) -> Window:
    """Return today's booking window: the last day opens at the daily release time."""
    rules = catalog.rules
    today = now.date()
    last = today + timedelta(days=rules.window_days - 1)
    released = last if now.time() >= rules.release_time else last - timedelta(days=1)
    return Window(today, last, released)


def check_window(catalog: Catalog, now: datetime, day: date) -> Window:
    """Refuse days before today or beyond the window (4xx with a Chinese reason)."""
    win = window(catalog, now)
    if day < win.today:
        raise Unprocessable("不能预约已经过去的日期", code="DATE_PASSED")
    if day > win.last_day:
        raise Unprocessable(f"只能预约今天起 {catalog.rules.window_days} 天内（含当天）的时段",
                            code="DATE_OUTSIDE_WINDOW")
    return win


def resolve_hall(catalog: Catalog, ref: str | int) -> HallInfo:
    """Find a hall by id or code."""
    ref = str(ref).strip()
    return catalog.hall_by_id(int(ref)) if ref.isdigit() else catalog.hall(ref)


def parse_start(value: str) -> time:
    hour, _, minute = value.strip().partition(":")
    try:
        return time(int(hour), int(minute))
    except ValueError as exc:
        raise Unprocessable("时段开始时间格式应为 HH:MM", code="INVALID_TIME") from exc


def slot_bounds(catalog: Catalog, day: date, start: time) -> tuple[datetime, datetime]:
    begin = datetime.combine(day, start, tzinfo=catalog.tz)
    return begin, begin + timedelta(minutes=catalog.rules.slot_minutes)


def default_quota(hall: HallInfo, channel: BookingChannel) -> int:
    return hall.hotline_quota if channel == BookingChannel.HOTLINE else hall.online_quota


async def ensure_counter(*, hall: HallInfo, day: date, start: str, channel: BookingChannel) -> SlotCounter:
    """Return the counter of a slot and channel, creating it with the hall's quota on first use."""
    keys = dict(hall_code=hall.code, date=day, start=start, channel=channel)
    counter = await SlotCounter.get_or_none(**keys)
    if counter is not None:
        return counter
    try:
        return await SlotCounter.create(quota=default_quota(hall, channel), **keys)
    except IntegrityError:
        return await SlotCounter.get(**keys)  # another request created it first


def _resources(ctx):
    if isinstance(ctx, dict):
        return ctx["redis"], ctx["keys"], ctx.setdefault("_avail_cache", {})
    return ctx.redis, ctx.keys, ctx.__dict__.setdefault("_avail_cache", {})


def _version_key(keys, hall_code: str, day: date) -> str:
    return keys("booking", "avail", hall_code, day.isoformat())


async def invalidate(ctx, hall_code: str, day: date) -> None:
    """Tell every worker that the counters of a hall-day changed (call after commit)."""
    redis, keys, cache = _resources(ctx)
    cache.pop((hall_code, day), None)
    key = _version_key(keys, hall_code, day)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, 40 * 86400)
        await pipe.execute()


async def counts(ctx, hall_code: str, day: date) -> dict[tuple[str, str], tuple[int, int]]:
    """Return {(start, channel): (quota, booked)} of the counters that exist for a hall-day."""
    redis, keys, cache = _resources(ctx)
    version = await redis.get(_version_key(keys, hall_code, day))
    hit = cache.get((hall_code, day))
    if hit is not None and hit[0] == version:
        return hit[1]
    # The version is read before the rows: a change committing in between leaves a newer version behind.
    rows = await SlotCounter.filter(hall_code=hall_code, date=day).values_list("start", "channel", "quota", "booked")
    data = {(start, str(channel)): (quota, booked) for start, channel, quota, booked in rows}
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cache[(hall_code, day)] = (version, data)
    return data


async def slots(ctx, *, catalog: Catalog, now: datetime, hall: HallInfo, day: date,
                channels: tuple[BookingChannel, ...]) -> dict:
    """Return the slots of a hall-day with the remaining places of the given channels."""
    win = check_window(catalog, now, day)
    released = day <= win.released_until
    cutoff = now + timedelta(minutes=catalog.rules.same_day_cutoff_minutes)
    data = await counts(ctx, hall.code, day)
    items = []
    for start in catalog.slot_starts(hall.code, day):
        begin, end = slot_bounds(catalog, day, start)
        label = start.strftime("%H:%M")
        item: dict = {"start": label, "end": end.strftime("%H:%M")}
        for channel in channels:
            quota, booked = data.get((label, channel.value), (default_quota(hall, channel), 0))
            item[channel.value] = {"quota": quota, "remaining": max(0, quota - booked)}
        remaining = item[channels[0].value]["remaining"]
        item["remaining"] = remaining
        if not released:
            item["bookable"], item["reason"] = False, "NOT_RELEASED"
        elif begin < cutoff:
            item["bookable"], item["reason"] = False, "TOO_LATE"
        elif remaining <= 0:
            item["bookable"], item["reason"] = False, "FULL"
        else:
            item["bookable"], item["reason"] = True, None
        items.append(item)
    return {
        "hall": {"id": hall.id, "code": hall.code, "name": hall.name},
        "date": day.isoformat(),
        "channel": channels[0].value,
        "open": bool(items),
        "released": released,
        "release_time": catalog.rules.release_time.strftime("%H:%M"),
        "slots": items,
    }
