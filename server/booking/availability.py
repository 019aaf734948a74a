"""Slot availability: lazily created per-channel counters, the booking window, and a read cache.

Availability is polled constantly. Each worker caches the counters of one hall-day in memory, tagged with
a version kept in Redis; every change (booking, cancellation, release, quota edit) bumps the version after
it commits, so the next read in any worker refetches. A read costs one Redis GET when nothing changed.

Without Redis the database stays the truth: an announcement that cannot be sent after a commit never fails
the request (it is queued and sent when Redis is back), and a worker that loses the change channel (or
gets no answer to its pings for a few seconds) forgets its cache and reads counters from the database
until the channel is back, so what it serves is at most a few seconds old.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from tortoise.exceptions import IntegrityError

from models import BookingChannel, SlotCounter
from server.catalog.service import Catalog, HallInfo
from server.core.errors import Unprocessable
from server.core.redis import UNAVAILABLE, Outbox

_CACHE_LIMIT = 5000
log = logging.getLogger("dengji.booking.availability")


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


class _Cache:
    """One worker's availability state: counter ids, counter values and ready JSON bodies per hall-day."""

    def __init__(self) -> None:
        self.counter_ids: dict[tuple, int] = {}
        self.loading: dict[tuple[str, date], asyncio.Future] = {}
        self.data: dict[tuple[str, date], tuple[str | None, dict]] = {}
        self.bodies: dict[tuple[str, date], tuple[Catalog, dict[tuple, bytes]]] = {}
        self.generation = 0  # moves on every invalidation, so a read racing one does not store old rows
        self.live = False  # subscribed to the change channel: no Redis round trip per read
        self.pending: _Batch | None = None  # changes waiting to be announced together
        self.token = uuid.uuid4().hex[:12]  # tells this worker's announcements from other workers'
        self.senders: set[asyncio.Task] = set()
        self.outbox = Outbox()  # announcements owed while Redis was unavailable

    def drop(self, hall_code: str, day: date) -> None:
        self.generation += 1
        self.data.pop((hall_code, day), None)
        self.bodies.pop((hall_code, day), None)

    def clear(self) -> None:
        self.generation += 1
        self.data.clear()
        self.bodies.clear()


def _resources(ctx):
    store = ctx if isinstance(ctx, dict) else ctx.__dict__
    cache = store.get("_avail_cache")
    if cache is None:
        cache = store["_avail_cache"] = _Cache()
    return store["redis"], store["keys"], cache


def following(ctx) -> bool:
    """Tell whether this worker is subscribed to availability changes (reads then skip Redis)."""
    return _resources(ctx)[2].live


async def counter_id(ctx, *, catalog: Catalog, hall: HallInfo, day: date, start: str,
                     channel: BookingChannel) -> int:
    """Return the id of a slot's counter; ids never change, so each worker keeps them.

    On the first miss for a hall-day every counter of that day is created (one statement) and all ids are
    read at once, shared by the requests that missed together: a burst on a new day costs two queries.
    """
    cache = _resources(ctx)[2]
    key = (hall.code, day, start, channel.value)
    found = cache.counter_ids.get(key)
    if found is not None:
        return found
    loading = cache.loading.get((hall.code, day))
    if loading is None:
        loading = cache.loading[(hall.code, day)] = asyncio.ensure_future(_load_counter_ids(cache, catalog, hall, day))
        loading.add_done_callback(lambda _: cache.loading.pop((hall.code, day), None))
    await asyncio.shield(loading)
    found = cache.counter_ids.get(key)
    if found is None:
        found = cache.counter_ids[key] = (await ensure_counter(hall=hall, day=day, start=start, channel=channel)).id
    return found


async def _load_counter_ids(cache: _Cache, catalog: Catalog, hall: HallInfo, day: date) -> None:
    if len(cache.counter_ids) > 50 * _CACHE_LIMIT:
        cache.counter_ids.clear()
    wanted = {(s.strftime("%H:%M"), channel.value) for s in catalog.slot_starts(hall.code, day)
              for channel in BookingChannel}
    rows = await SlotCounter.filter(hall_code=hall.code, date=day).values_list("id", "start", "channel")
    missing = wanted - {(start, str(channel)) for _, start, channel in rows}
    if missing:
        await SlotCounter.bulk_create(
            [SlotCounter(hall_code=hall.code, date=day, start=start, channel=BookingChannel(channel),
                         quota=default_quota(hall, BookingChannel(channel))) for start, channel in sorted(missing)],
            ignore_conflicts=True)
        rows = await SlotCounter.filter(hall_code=hall.code, date=day).values_list("id", "start", "channel")
    for counter, start, channel in rows:
        cache.counter_ids[(hall.code, day, start, str(channel))] = counter


async def load_window_ids(ctx, catalog: Catalog, now: datetime) -> int:
    """Read the ids of every counter of the booking window into this worker (one query).

    Done at start-up and every minute, so the first rush on a newly released day (counters made ahead by
    prepare_window) finds their ids here instead of fetching them in the middle of the burst.
    """
    cache = _resources(ctx)[2]
    win = window(catalog, now)
    rows = await SlotCounter.filter(date__gte=win.today, date__lte=win.last_day).values_list(
        "id", "hall_code", "date", "start", "channel")
    for counter, hall_code, day, start, channel in rows:
        cache.counter_ids[(hall_code, day, start, str(channel))] = counter
    return len(rows)


async def prepare_window(catalog: Catalog, now: datetime) -> int:
    """Create the counters of every open hall-day of the booking window that lacks them; return how many.

    Run ahead of each day's release time, so the release rush (everyone booking the new day at once) finds
    its counters in place instead of creating them in the middle of the burst.
    """
    win = window(catalog, now)
    days = [win.today + timedelta(days=n) for n in range((win.last_day - win.today).days + 1)]
    have = {(hall, day, start, str(channel)) for hall, day, start, channel in await SlotCounter.filter(
        date__gte=win.today, date__lte=win.last_day).values_list("hall_code", "date", "start", "channel")}
    missing = [SlotCounter(hall_code=hall.code, date=day, start=label, channel=channel,
                           quota=default_quota(hall, channel))
               for hall in catalog.halls.values() if hall.active
               for day in days
               for label in (s.strftime("%H:%M") for s in catalog.slot_starts(hall.code, day))
               for channel in BookingChannel
               if (hall.code, day, label, channel.value) not in have]
    if missing:
        await SlotCounter.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def _version_key(keys, hall_code: str, day: date) -> str:
    return keys("booking", "avail", hall_code, day.isoformat())


def _channel(keys) -> str:
    return keys("booking", "avail", "changed")


async def invalidate(ctx, hall_code: str, day: date) -> None:
    """Tell every worker that the counters of a hall-day changed (call after commit); this one forgets at once.

    Changes made at the same moment share one Redis round trip: the first caller opens a batch that is sent
    on the next turn of the event loop, and every caller waits until its batch is out (so a response never
    leaves before other workers were told).
    """
    redis, keys, cache = _resources(ctx)
    cache.drop(hall_code, day)
    loop = asyncio.get_running_loop()
    batch = cache.pending
    if batch is None:
        batch = cache.pending = _Batch()
        loop.call_soon(_send_batch, redis, keys, cache, batch)
    batch.changes.add((hall_code, day))
    # A future of its own per caller: a cancelled request must not cancel the others' wait.
    waiter = loop.create_future()
    batch.waiters.append(waiter)
    await waiter


@dataclass
class _Batch:
    changes: set = field(default_factory=set)
    waiters: list[asyncio.Future] = field(default_factory=list)


def _send_batch(redis, keys, cache: _Cache, batch: _Batch) -> None:
    cache.pending = None  # later changes start the next batch

    async def announce(changes=frozenset(batch.changes)) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for hall_code, day in sorted(changes):
                key = _version_key(keys, hall_code, day)
                pipe.incr(key)  # for workers that are not subscribed right now
                pipe.expire(key, 40 * 86400)
                pipe.publish(_channel(keys), f"{hall_code}|{day.isoformat()}|{cache.token}")
            await pipe.execute()

    async def send() -> None:
        try:
            if cache.outbox.items:  # Redis is away: join the queue instead of waiting for a timeout
                raise ConnectionError("earlier announcements still queued")
            await announce()
        except Exception as exc:
            # The changes are committed: the requests answer success, the announcement goes out later.
            # Meanwhile other workers have lost the channel too and read the database.
            log.warning("availability change not announced (%s); queued until Redis is back", type(exc).__name__)
            cache.outbox.add(f"availability of {len(batch.changes)} hall-day(s)", announce)
        for waiter in batch.waiters:
            if not waiter.done():  # else its request was cancelled
                waiter.set_result(None)

    cache.senders.add(task := asyncio.ensure_future(send()))
    task.add_done_callback(cache.senders.discard)


# The change channel is pinged this often; without an answer for PING_GRACE seconds it counts as lost (a
# paused Redis keeps the socket open but says nothing, and the cache must not outlive that for long).
PING_EVERY = 1.0
PING_GRACE = 2.5


async def _messages(pubsub):
    """Yield the channel's messages; raise ConnectionError when Redis stops answering pings."""
    loop = asyncio.get_running_loop()
    pinged = loop.time()
    unanswered = None  # when the oldest ping still without an answer was sent
    task = asyncio.current_task()
    while True:
        message = await pubsub.get_message(timeout=PING_EVERY / 2)
        if task is not None and task.cancelling():
            # redis-py's timed read can swallow a cancellation: the worker is stopping, so stop.
            raise asyncio.CancelledError
        now = loop.time()
        if message is not None:
            unanswered = None  # Redis spoke after our ping
            if message["type"] != "pong":
                yield message
        if now - pinged >= PING_EVERY:
            pinged = now
            await pubsub.ping()
            unanswered = unanswered or now
        # Counted from a ping, not from the last message: a worker busy starting up is not a silent Redis.
        if unanswered is not None and now - unanswered > PING_GRACE:
            raise ConnectionError("availability channel: no answer to ping")


async def listen(ctx) -> None:
    """Drop cached hall-days as other workers announce changes; run for the worker's lifetime."""
    redis, keys, cache = _resources(ctx)
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(_channel(keys))
            async for message in _messages(pubsub):
                if message["type"] == "subscribe":
                    # Anything cached before this point may have missed a change.
                    cache.clear()
                    cache.live = True
                elif message["type"] == "message":
                    hall_code, day, *sender = message["data"].split("|")
                    if sender and sender[0] == cache.token:
                        continue  # our own announcement: this worker already forgot that hall-day
                    cache.drop(hall_code, date.fromisoformat(day))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("availability change channel lost; reading versions from Redis until it is back")
        finally:
            cache.live = False
            cache.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 1)
        await asyncio.sleep(1)


async def counts(ctx, hall_code: str, day: date) -> dict[tuple[str, str], tuple[int, int]]:
    """Return {(start, channel): (quota, booked)} of the counters that exist for a hall-day."""
    redis, keys, cache = _resources(ctx)
    generation = cache.generation
    if cache.live:
        version = None
        hit = cache.data.get((hall_code, day))
        if hit is not None:
            return hit[1]
    else:
        # Not subscribed: one Redis GET tells whether another worker changed this hall-day.
        try:
            version = await redis.get(_version_key(keys, hall_code, day))
        except UNAVAILABLE:
            # No way to know what other workers changed: the database answers, and nothing is cached.
            generation = -1
            version = None
        else:
            hit = cache.data.get((hall_code, day))
            if hit is not None and hit[0] == version:
                return hit[1]
    # The version is read before the rows: a change committing in between leaves a newer version behind.
    rows = await SlotCounter.filter(hall_code=hall_code, date=day).values_list("start", "channel", "quota", "booked")
    data = {(start, str(channel)): (quota, booked) for start, channel, quota, booked in rows}
    if generation == cache.generation:  # no change was announced while the rows were read
        if len(cache.data) > _CACHE_LIMIT:
            cache.clear()
        cache.data[(hall_code, day)] = (version, data)
    return data


def _shape(catalog: Catalog, now: datetime, hall: HallInfo, day: date) -> tuple[bool, int]:
    # What a hall-day's answer depends on besides the counters: release state and slots past the cut-off.
    released = day <= check_window(catalog, now, day).released_until
    cutoff = now + timedelta(minutes=catalog.rules.same_day_cutoff_minutes)
    if cutoff.date() < day:
        return released, 0
    late = sum(1 for start in catalog.slot_starts(hall.code, day) if slot_bounds(catalog, day, start)[0] < cutoff)
    return released, late


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
        # A day of a year whose holidays are not yet published: it may still become a holiday (the booking is
        # then cancelled by the center and the citizen told, never counted as a no-show).
        "provisional": catalog.is_provisional(day),
        "provisional_note": catalog.provisional_note(day),
        "slots": items,
    }


async def slots_json(ctx, *, catalog: Catalog, now: datetime, hall: HallInfo, day: date,
                     channels: tuple[BookingChannel, ...]) -> bytes:
    """Return `slots` as JSON bytes, serialised once per hall-day, channel and time state until a change."""
    cache = _resources(ctx)[2]
    shape = (channels, *_shape(catalog, now, hall, day))
    entry = cache.bodies.get((hall.code, day))
    if cache.live and entry is not None and entry[0] is catalog and (body := entry[1].get(shape)) is not None:
        return body
    generation = cache.generation
    body = json.dumps(await slots(ctx, catalog=catalog, now=now, hall=hall, day=day, channels=channels),
                      ensure_ascii=False, separators=(",", ":")).encode()
    # Kept only while subscribed (a change announced meanwhile moves the generation and drops it).
    if cache.live and generation == cache.generation:
        entry = cache.bodies.get((hall.code, day))
        if entry is None or entry[0] is not catalog:
            if len(cache.bodies) > _CACHE_LIMIT:
                cache.bodies.clear()
            entry = cache.bodies[(hall.code, day)] = (catalog, {})
        entry[1][shape] = body
    return body
