"""Booking rules (guide §2): window and release time, cut-offs, per-person limits, channel quotas,
review mode, cancellation with anti-scalping release, check-in with queue numbers, no-shows, walk-ins.

Never overbook: every place is taken by a conditional UPDATE on the slot's counter row inside the same
transaction as the booking insert. Per-person limits hold under concurrency because each booking first
locks the person's BookingHolder row (a conditional UPDATE; SQLite serialises transactions anyway) and
the daily limit is also a unique index on (id_hash, date, day_seq).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg
from tortoise import connections, timezone
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models import (
    Booking,
    BookingChannel,
    BookingHolder,
    BookingStatus,
    BusinessType,
    Citizen,
    DayKind,
    QueueCounter,
    SlotCounter,
    WalkIn,
)
from server.booking import availability
from server.catalog.service import Catalog, HallInfo
from server.core import db as db_core
from server.core.crypto import PiiCipher
from server.core.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from server.identity import validators as v
from server.identity.service import id_hash as _id_hash
from server.queue import service as queue_service

log = logging.getLogger("dengji.booking")

ACTIVE = (BookingStatus.PENDING, BookingStatus.CONFIRMED)
STATUS_TEXT = {
    BookingStatus.PENDING: "待确认",
    BookingStatus.CONFIRMED: "预约成功",
    BookingStatus.CHECKED_IN: "已签到",
    BookingStatus.CANCELLED: "已取消",
    BookingStatus.DECLINED: "未通过确认",
    BookingStatus.NO_SHOW: "爽约",
    BookingStatus.EXPIRED: "已过期",
    BookingStatus.CENTER_CANCELLED: "中心已取消",
}
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at the counter


def _duration(minutes: int) -> str:
    return f"{minutes // 60} 小时" if minutes % 60 == 0 else f"{minutes} 分钟"


def _validated(fn, value: str) -> str:
    try:
        return fn(value)
    except v.InvalidIdentity as exc:
        raise Unprocessable(exc.message, code=exc.code) from exc


# --------------------------------------------------------------------------- applicants


@dataclass(frozen=True)
class Applicant:
    """The real name a booking belongs to (ciphertexts + lookup hash), with the citizen account if any."""

    id_hash: str
    name_enc: str
    id_number_enc: str
    mobile_enc: str
    citizen_id: int | None


@dataclass(frozen=True)
class CitizenRef:
    """A citizen account whose real-name binding is read by the booking itself (one query less)."""

    citizen_id: int


def _not_bound() -> AppError:
    return Forbidden("请先完成实名认证（人脸核身或窗口绑定码，并填写手机号）后再预约", code="NOT_BOUND")


def applicant_from_citizen(citizen: Citizen) -> Applicant:
    """Use a citizen's verified real-name binding with a mobile; others cannot book.

    The PostgreSQL statement (_PG_BOOK, its ``who`` row) applies the same rule.
    """
    if not citizen.id_hash or not citizen.mobile_enc:
        raise _not_bound()
    return Applicant(citizen.id_hash, citizen.name_enc, citizen.id_number_enc, citizen.mobile_enc, citizen.id)


async def _resolve(applicant: Applicant | CitizenRef) -> Applicant:
    if isinstance(applicant, Applicant):
        return applicant
    citizen = await Citizen.get_or_none(id=applicant.citizen_id)
    if citizen is None:
        raise NotFound("账号不存在，请重新登录", code="CITIZEN_NOT_FOUND")
    return applicant_from_citizen(citizen)


async def applicant_from_caller(*, cipher: PiiCipher, name: str, id_number: str, mobile: str) -> Applicant:
    """Validate a hotline caller's real name; link the booking to their citizen account when one exists."""
    name = _validated(v.validate_name, name)
    id_number = _validated(v.validate_resident_id, id_number)
    mobile = _validated(v.validate_mobile, mobile)
    digest = _id_hash(cipher, id_number)
    citizen = await Citizen.get_or_none(id_hash=digest).only("id")
    return Applicant(digest, cipher.encrypt(name), cipher.encrypt(id_number), cipher.encrypt(mobile),
                     citizen.id if citizen else None)


# --------------------------------------------------------------------------- rule checks


def check_business_type(catalog: Catalog, code: str, day: date | None = None) -> BusinessType:
    """Refuse business that needs no booking (walk-in) or is done fully online on that day (phased rollout)."""
    bt = catalog.business_type(code)
    mode = catalog.mode_on(bt, day) if day else catalog.mode_on(bt, date.min)
    if mode.booking == "walk_in":
        raise Unprocessable(f"{bt.name}免预约，可直接到大厅办理", code="BOOKING_NOT_NEEDED")
    if mode.booking == "none_online":
        hint = mode.online_hint or "可网上办理，无需到厅"
        raise Unprocessable(f"{bt.name}为全程网办事项，无需预约到厅：{hint}", code="ONLINE_ONLY",
                            details={"online_hint": hint})
    return bt


def check_scope(catalog: Catalog, hall: HallInfo, bt: BusinessType) -> None:
    """Refuse a business type the hall has paused (per-hall business scope), naming the reason."""
    reason = catalog.pause_reason(hall.code, bt.code)
    if reason is not None:
        elsewhere = [h.name for h in catalog.halls.values()
                     if h.active and h.code != hall.code and catalog.pause_reason(h.code, bt.code) is None]
        hint = f"，可到{'、'.join(elsewhere)}办理" if elsewhere else ""
        raise Unprocessable(f"{hall.name}暂停办理{bt.name}（{reason}）{hint}", code="BUSINESS_PAUSED",
                            details={"reason": reason, "halls": elsewhere})


def check_slot(catalog: Catalog, now: datetime, hall: HallInfo, day: date, start: time) -> tuple[datetime, datetime]:
    """Apply the window, release time, opening hours and same-day cut-off; return the slot's bounds."""
    rules = catalog.rules
    win = availability.check_window(catalog, now, day)
    if day > win.released_until:
        raise Unprocessable(f"第 {rules.window_days} 天的号源于每天 {rules.release_time:%H:%M} 放出，请届时再预约",
                            code="NOT_RELEASED")
    starts = catalog.slot_starts(hall.code, day)
    if not starts:
        raise Unprocessable(f"{hall.name}{day:%m月%d日}不对外服务，请选择其他日期", code="HALL_CLOSED")
    if start not in starts:
        raise Unprocessable("该时段不开放预约，请选择其他时段", code="SLOT_NOT_FOUND")
    begin, end = availability.slot_bounds(catalog, day, start)
    if begin - now < timedelta(minutes=rules.same_day_cutoff_minutes):
        raise Unprocessable(f"当天的时段须在开始前 {_duration(rules.same_day_cutoff_minutes)}预约，请选择更晚的时段",
                            code="TOO_LATE")
    return begin, end


def _suspension_error(catalog: Catalog, until: datetime) -> AppError:
    rules = catalog.rules
    local = until.astimezone(catalog.tz)
    return Forbidden(f"您在 {rules.no_show_window_days} 天内爽约已达 {rules.no_show_limit} 次，"
                     f"预约资格暂停至 {local:%Y年%m月%d日}", code="BOOKING_SUSPENDED",
                     details={"suspended_until": local.date().isoformat()})


async def _holder(id_hash: str) -> BookingHolder:
    holder = await BookingHolder.get_or_none(id_hash=id_hash)
    if holder is not None:
        return holder
    try:
        return await BookingHolder.create(id_hash=id_hash)
    except IntegrityError:
        return await BookingHolder.get(id_hash=id_hash)


async def _lock_holder(conn, id_hash: str) -> None:
    # A row lock held until commit: the same person's concurrent bookings queue up here (PostgreSQL).
    # The version bump also fails the optimistic check of a concurrent single-statement booking.
    await BookingHolder.filter(id_hash=id_hash).using_db(conn).update(version=F("version") + 1)


def _pick_day_seq(catalog: Catalog, now: datetime, day: date, rows) -> int:
    """Apply the daily and active limits to the person's rows (status, slot_end_at, date, day_seq)."""
    rules = catalog.rules
    used = {seq for _, _, d, seq in rows if d == day and seq is not None}
    free = [n for n in range(1, rules.per_id_per_day + 1) if n not in used]
    if not free:
        raise _daily_limit(catalog)
    active = sum(1 for status, end, _, _ in rows if status in ACTIVE and end > now)
    if active >= rules.max_active:
        raise _active_limit(catalog)
    return free[0]


def _daily_limit(catalog: Catalog) -> AppError:
    return Conflict(f"同一身份证号同一天只能预约 {catalog.rules.per_id_per_day} 次", code="DAILY_LIMIT")


def _active_limit(catalog: Catalog) -> AppError:
    return Conflict(f"同时有效的预约不能超过 {catalog.rules.max_active} 个，请先办理或取消已有预约",
                    code="ACTIVE_LIMIT")


# Limits count only what the citizen holds: the active limit counts pending/confirmed bookings, the daily limit
# the day places (day_seq) still held. A booking the center cancels (closure, server/operations/closures.py)
# leaves both at once — status center_cancelled, day_seq NULL — so it never counts; the sweep cancels for the
# center any booking whose slot a calendar change closed. The PostgreSQL statement (_PG_BOOK, CTE "mine")
# counts exactly the same rows.
async def _claim_day_seq(conn, catalog: Catalog, now: datetime, id_hash: str, day: date) -> int:
    rows = await (Booking.filter(id_hash=id_hash)
                  .filter(Q(status__in=ACTIVE, slot_end_at__gt=now) | Q(date=day, day_seq__not_isnull=True))
                  .using_db(conn).values_list("status", "slot_end_at", "date", "day_seq"))
    return _pick_day_seq(catalog, now, day, rows)


def _slot_full() -> AppError:
    return Conflict("该时段号源已约满，请选择其他时段", code="SLOT_FULL")


async def _take_place(conn, counter_id: int) -> None:
    taken = await (SlotCounter.filter(id=counter_id, booked__lt=F("quota")).using_db(conn)
                   .update(booked=F("booked") + 1))
    if not taken:
        raise _slot_full()


async def _return_place(conn, counter_id: int) -> None:
    await SlotCounter.filter(id=counter_id, booked__gt=0).using_db(conn).update(booked=F("booked") - 1)


_CODE_SPACE = len(_CODE_ALPHABET) ** 8
_random_pool = bytearray()
os.register_at_fork(after_in_child=_random_pool.clear)  # a forked worker must not reuse its parent's bytes


def _new_code() -> str:
    """An 8-character booking code, uniform over the 31^8 codes, from the OS's CSPRNG.

    The OS is asked for 4 KiB at a time rather than once per code (a syscall per booking showed up in
    profiles); 5 bytes are drawn per try and out-of-range values rejected, so there is no modulo bias.
    """
    while True:
        if len(_random_pool) < 5:
            _random_pool.extend(os.urandom(4096))
        n = int.from_bytes(_random_pool[-5:], "big")
        del _random_pool[-5:]
        if n < _CODE_SPACE * (2**40 // _CODE_SPACE):
            n %= _CODE_SPACE
            break
    out = []
    for _ in range(8):
        n, r = divmod(n, len(_CODE_ALPHABET))
        out.append(_CODE_ALPHABET[r])
    return "".join(out)


def request_hash(payload: dict) -> str:
    """Fingerprint of a request body, to tell a retry from a different request with the same key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- booking


@dataclass(frozen=True)
class SlotChoice:
    hall_ref: str
    business_type: str
    day: date
    start: str
    agent_credit_code: str | None = None
    subscribe: bool = False


@dataclass
class _Prepared:
    hall: HallInfo
    bt: BusinessType
    day: date
    start: str
    begin: datetime
    end: datetime
    counter_id: int
    agent_enc: str | None


async def _prepare(*, ctx, cipher: PiiCipher, catalog: Catalog, now: datetime, choice: SlotChoice,
                   channel: BookingChannel) -> _Prepared:
    """Check the request against the catalog (no database reads but the slot's counter id, cached)."""
    bt = check_business_type(catalog, choice.business_type, choice.day)
    hall = availability.resolve_hall(catalog, choice.hall_ref)
    check_scope(catalog, hall, bt)
    start_time = availability.parse_start(choice.start)
    begin, end = check_slot(catalog, now, hall, choice.day, start_time)
    agent_enc = None
    if choice.agent_credit_code:
        agent_enc = cipher.encrypt(_validated(v.validate_credit_code, choice.agent_credit_code))
    start = start_time.strftime("%H:%M")
    counter_id = await availability.counter_id(ctx, catalog=catalog, hall=hall, day=choice.day, start=start,
                                              channel=channel)
    return _Prepared(hall, bt, choice.day, start, begin, end, counter_id, agent_enc)


async def _check_suspension(catalog: Catalog, now: datetime, id_hash: str) -> None:
    holder = await _holder(id_hash)
    if holder.suspended_until and holder.suspended_until > now:
        raise _suspension_error(catalog, holder.suspended_until)


def _row(p: _Prepared, applicant: Applicant, choice: SlotChoice, channel: BookingChannel,
         staff_id: int | None, idem: tuple[str, str, str] | None) -> dict:
    owner, key, digest = idem or (None, None, None)
    return dict(
        code=_new_code(), citizen_id=applicant.citizen_id, id_hash=applicant.id_hash,
        name_enc=applicant.name_enc, id_number_enc=applicant.id_number_enc, mobile_enc=applicant.mobile_enc,
        agent_credit_code_enc=p.agent_enc, hall_code=p.hall.code, business_type=p.bt.code, date=p.day,
        start=p.start, end=p.end.strftime("%H:%M"), slot_at=p.begin, slot_end_at=p.end, channel=channel.value,
        status=(BookingStatus.PENDING if p.hall.review_mode else BookingStatus.CONFIRMED).value,
        counter_id=p.counter_id, subscribe=choice.subscribe and applicant.citizen_id is not None,
        created_by_staff_id=staff_id, idem_owner=owner, idem_key=key, idem_hash=digest,
    )


async def _insert(conn, *, p: _Prepared, catalog: Catalog, now: datetime, applicant: Applicant,
                  choice: SlotChoice, channel: BookingChannel, staff_id: int | None,
                  idem: tuple[str, str, str] | None) -> Booking:
    day_seq = await _claim_day_seq(conn, catalog, now, applicant.id_hash, p.day)
    await _take_place(conn, p.counter_id)
    return await Booking.create(using_db=conn, day_seq=day_seq,
                                **_row(p, applicant, choice, channel, staff_id, idem))


async def _replay(owner: str, key: str, digest: str) -> Booking | None:
    existing = await Booking.get_or_none(idem_owner=owner, idem_key=key)
    if existing is not None and existing.idem_hash != digest:
        raise Conflict("该幂等键已用于另一笔不同的预约请求", code="IDEMPOTENCY_KEY_REUSED")
    return existing


# PostgreSQL books in one statement (one round trip, no explicit transaction, so no row lock is ever held
# across a round trip to this process: with 200 clients racing for one slot, that wait is what queues them).
# Its CTEs, in order:
#   who     the real name booked for: the citizen's binding (mini-program) or the caller's (hotline);
#   hv/mine the person's holder row (version, suspension) and the bookings the daily and active limits count
#           (a booking the center cancelled holds neither: same rows as the portable path's _claim_day_seq);
#   prior   an earlier booking with the same idempotency key;
#   verdict everything the rules decide on, returned to Python, which names the rule a refusal breaks;
#   go      one row only when every rule holds;
#   h       bumps the holder's version only if it is still the one this statement read (optimistic per-person
#           serialisation: a concurrent booking, rebooking or reschedule of the same person commits a newer
#           version, this statement then changes nothing and Python retries it with a fresh snapshot);
#   c       takes a place by a conditional UPDATE of the counter;
#   b       inserts the booking.
# It commits as one implicit transaction. The unique indexes on (id_hash, date, day_seq) and
# (idem_owner, idem_key) stay the final guard: a violation rolls everything back and the request retries.
_PG_COLUMNS = ("code", "agent_credit_code_enc", "hall_code", "business_type", "date", "start", "end", "slot_at",
               "slot_end_at", "channel", "status", "subscribe", "created_by_staff_id", "idem_owner", "idem_key",
               "idem_hash")
_PG_TYPES = ("varchar", "text", "varchar", "varchar", "date", "varchar", "varchar", "timestamptz", "timestamptz",
             "varchar", "varchar", "boolean", "int", "varchar", "varchar", "varchar")
_PG_FIRST_COLUMN = 14
_PG_BOOK = f"""
WITH who AS (
  SELECT CASE WHEN mobile_enc IS NULL THEN NULL ELSE id_hash END, name_enc, id_number_enc, mobile_enc
    FROM citizen WHERE id = $6::bigint AND $1::varchar IS NULL
  UNION ALL
  SELECT $1::varchar, $8::text, $9::text, $10::text WHERE $1::varchar IS NOT NULL
), hv AS (
  SELECT version, suspended_until FROM booking_holder WHERE id_hash = (SELECT id_hash FROM who)
), mine AS (
  SELECT status, slot_end_at, date, day_seq FROM booking
   WHERE id_hash = (SELECT id_hash FROM who)
     AND ((status IN ('pending', 'confirmed') AND slot_end_at > $2) OR (date = $3 AND day_seq IS NOT NULL))
), prior AS (
  SELECT id, idem_hash FROM booking WHERE idem_owner = $4::varchar AND idem_key = $5::varchar LIMIT 1
), verdict AS (
  SELECT (SELECT count(*) FROM who) AS v_found,
         (SELECT id_hash FROM who) AS v_id_hash,
         (SELECT suspended_until FROM hv) AS v_suspended_until,
         (SELECT count(*) FROM mine WHERE status IN ('pending', 'confirmed') AND slot_end_at > $2) AS v_active,
         (SELECT min(n) FROM generate_series(1, $12::int) AS n
           WHERE n NOT IN (SELECT day_seq FROM mine WHERE date = $3 AND day_seq IS NOT NULL)) AS v_day_seq,
         (SELECT id FROM prior) AS v_prior_id,
         (SELECT idem_hash FROM prior) AS v_prior_hash
), go AS (
  SELECT v_id_hash AS id_hash, v_day_seq AS day_seq FROM verdict
   WHERE v_id_hash IS NOT NULL AND v_prior_id IS NULL AND v_day_seq IS NOT NULL AND v_active < $11::int
     AND (v_suspended_until IS NULL OR v_suspended_until <= $2)
), h AS (
  INSERT INTO booking_holder AS bh (id_hash, version, created_at, updated_at) SELECT id_hash, 1, $13, $13 FROM go
  ON CONFLICT (id_hash) DO UPDATE SET version = bh.version + 1, updated_at = $13
   WHERE bh.version = (SELECT version FROM hv)
  RETURNING 1
), c AS (
  UPDATE slot_counter SET booked = booked + 1
   WHERE id = $7 AND booked < quota AND EXISTS (SELECT 1 FROM h)
  RETURNING id
), b AS (
  INSERT INTO booking (id_hash, created_at, updated_at, counter_id, day_seq, citizen_id, name_enc, id_number_enc,
                       mobile_enc, {", ".join(f'"{c}"' for c in _PG_COLUMNS)})
  SELECT go.id_hash, $13, $13, c.id, go.day_seq, $6::bigint, who.name_enc, who.id_number_enc, who.mobile_enc,
         {", ".join(f"${n}::{t}" for n, t in enumerate(_PG_TYPES, start=_PG_FIRST_COLUMN))}
    FROM c, go, who
  RETURNING *
)
SELECT verdict.*, EXISTS (SELECT 1 FROM h) AS _held, EXISTS (SELECT 1 FROM c) AS _took, b.*
  FROM verdict LEFT JOIN b ON true
"""
_PG_VERDICT = ("v_found", "v_id_hash", "v_suspended_until", "v_active", "v_day_seq", "v_prior_id", "v_prior_hash",
               "_held", "_took")
_PG_ATTEMPTS = 25


def _refusal(catalog: Catalog, now: datetime, v, digest: str | None) -> AppError | int | None:
    """Name the rule a refused booking breaks, in the order the rules are documented; an int is a replay."""
    if not v["v_found"]:
        return NotFound("账号不存在，请重新登录", code="CITIZEN_NOT_FOUND")
    if not v["v_id_hash"]:
        return _not_bound()
    if v["v_prior_id"] is not None:
        if v["v_prior_hash"] != digest:
            return Conflict("该幂等键已用于另一笔不同的预约请求", code="IDEMPOTENCY_KEY_REUSED")
        return v["v_prior_id"]
    if v["v_suspended_until"] and v["v_suspended_until"] > now:
        return _suspension_error(catalog, v["v_suspended_until"])
    if v["v_day_seq"] is None:
        return _daily_limit(catalog)
    if v["v_active"] >= catalog.rules.max_active:
        return _active_limit(catalog)
    return None


async def _create_pg(db, *, p: _Prepared, catalog: Catalog, now: datetime, applicant: Applicant | CitizenRef,
                     choice: SlotChoice, channel: BookingChannel, staff_id: int | None,
                     idem: tuple[str, str, str] | None) -> tuple[Booking, bool]:
    digest = idem[2] if idem else None
    if isinstance(applicant, CitizenRef):
        citizen_id, person = applicant.citizen_id, (None, None, None, None)
        applicant = Applicant("", "", "", "", citizen_id)  # the statement reads the binding itself
    else:
        citizen_id = applicant.citizen_id
        person = (applicant.id_hash, applicant.name_enc, applicant.id_number_enc, applicant.mobile_enc)
    row = _row(p, applicant, choice, channel, staff_id, idem)
    try:
        return await _create_pg_once(db, row=row, p=p, catalog=catalog, now=now, person=person,
                                     citizen_id=citizen_id, digest=digest)
    except db_core.DEAD_CONNECTION:
        # The server ended the connection (e.g. pg_terminate_backend) while the statement ran: it either
        # committed as a whole or not at all. Its booking code tells which; if not, it runs once more.
        found = await Booking.get_or_none(code=row["code"])
        if found is not None:
            return found, True
        log.warning("booking statement lost its connection before committing; trying once more")
        return await _create_pg_once(db, row=row, p=p, catalog=catalog, now=now, person=person,
                                     citizen_id=citizen_id, digest=digest)


async def _create_pg_once(db, *, row: dict, p: _Prepared, catalog: Catalog, now: datetime, person: tuple,
                          citizen_id: int | None, digest: str | None) -> tuple[Booking, bool]:
    rules = catalog.rules
    replay = None
    # This is the hottest path of the service: asyncpg directly, as the ORM's wrapper cost as much CPU as
    # the statement itself.
    async with db.acquire_connection() as conn:
        for _ in range(_PG_ATTEMPTS):
            try:
                out = await conn.fetchrow(_PG_BOOK, person[0], now, p.day, row["idem_owner"], row["idem_key"],
                                          citizen_id, p.counter_id, *person[1:], rules.max_active,
                                          rules.per_id_per_day, timezone.now(), *(row[c] for c in _PG_COLUMNS))
            except asyncpg.UniqueViolationError:
                row["code"] = _new_code()
                continue  # a racing request of this person or with this key won: the next attempt decides
            result = dict(out)
            verdict = {k: result.pop(k) for k in _PG_VERDICT}
            if verdict["_took"]:
                return Booking._init_from_db(**result), True
            refusal = _refusal(catalog, now, verdict, digest)
            if isinstance(refusal, AppError):
                raise refusal
            if refusal is not None:
                replay = refusal
                break  # read it after giving the connection back: holding one while waiting for another deadlocks
            if verdict["_held"]:
                raise _slot_full()
            # Not held: this person's bookings changed since the statement's snapshot; try again.
    if replay is not None:
        return await Booking.get(id=replay), False
    raise Conflict("预约请求过于频繁，请稍后重试", code="BOOKING_BUSY")


async def create(*, ctx, cipher: PiiCipher, catalog: Catalog, now: datetime, applicant: Applicant | CitizenRef,
                 choice: SlotChoice, channel: BookingChannel, staff_id: int | None = None,
                 idem: tuple[str, str, str] | None = None) -> tuple[Booking, bool]:
    """Book a slot under every rule; return (booking, created). A repeated idempotency key replays."""
    db = connections.get("default")
    p = await _prepare(ctx=ctx, cipher=cipher, catalog=catalog, now=now, choice=choice, channel=channel)
    if db.capabilities.dialect == "postgres":
        booking, created = await _create_pg(db, p=p, catalog=catalog, now=now, applicant=applicant,
                                            choice=choice, channel=channel, staff_id=staff_id, idem=idem)
    else:
        booking, created = await _create_serialised(p=p, catalog=catalog, now=now, applicant=await _resolve(applicant),
                                                    choice=choice, channel=channel, staff_id=staff_id, idem=idem)
    if created:
        await availability.invalidate(ctx, p.hall.code, p.day)
    return booking, created


async def _create_serialised(*, p: _Prepared, catalog: Catalog, now: datetime, applicant: Applicant,
                             choice: SlotChoice, channel: BookingChannel, staff_id: int | None,
                             idem: tuple[str, str, str] | None) -> tuple[Booking, bool]:
    # Other databases (SQLite): one transaction that locks the holder row first.
    if idem and (existing := await _replay(*idem)):
        return existing, False
    try:
        await _check_suspension(catalog, now, applicant.id_hash)
        async with in_transaction() as conn:
            await _lock_holder(conn, applicant.id_hash)
            booking = await _insert(conn, p=p, catalog=catalog, now=now, applicant=applicant, choice=choice,
                                    channel=channel, staff_id=staff_id, idem=idem)
    except (AppError, IntegrityError):
        # A racing twin with the same key may have won: answer with its booking.
        if idem and (existing := await _replay(*idem)):
            return existing, False
        raise
    return booking, True


def _check_cancellable(catalog: Catalog, now: datetime, booking: Booking) -> None:
    if booking.status not in ACTIVE:
        raise Conflict(f"该预约{STATUS_TEXT[booking.status]}，不能取消或改约", code="NOT_CANCELLABLE")
    minutes = catalog.rules.cancel_cutoff_minutes
    if booking.slot_at - now < timedelta(minutes=minutes):
        raise Unprocessable(f"时段开始前 {_duration(minutes)}内不能在线取消或改约，如有需要请致电热线",
                            code="CANCEL_TOO_LATE")


def _release_delay(catalog: Catalog, booking: Booking) -> timedelta:
    hall = catalog.halls.get(booking.hall_code)
    minutes = hall.cancel_release_delay_minutes if hall else catalog.rules.cancel_release_delay_minutes
    return timedelta(minutes=max(0, minutes))


async def _cancel_in(conn, *, booking: Booking, now: datetime, delay: timedelta) -> None:
    released = now if not delay else None
    changed = await Booking.filter(id=booking.id, status__in=ACTIVE).using_db(conn).update(
        status=BookingStatus.CANCELLED, cancelled_at=now, day_seq=None, release_at=now + delay,
        released_at=released)
    if not changed:
        raise Conflict("该预约已取消或已结束", code="NOT_CANCELLABLE")


async def cancel(*, ctx, catalog: Catalog, now: datetime, booking: Booking) -> Booking:
    """Cancel until the cut-off; the place returns to the pool now or after the hall's delay.

    Idempotent: cancelling a cancelled booking answers that booking (a retry after a lost response).
    """
    if booking.status == BookingStatus.CANCELLED:
        return booking
    _check_cancellable(catalog, now, booking)
    delay = _release_delay(catalog, booking)
    try:
        async with in_transaction() as conn:
            await _cancel_in(conn, booking=booking, now=now, delay=delay)
            if not delay:
                await _return_place(conn, booking.counter_id)
    except Conflict:
        await booking.refresh_from_db()
        if booking.status == BookingStatus.CANCELLED:
            return booking  # a racing twin of this request cancelled it first
        raise
    await availability.invalidate(ctx, booking.hall_code, booking.date)
    await _schedule_release(ctx, booking.id, delay)
    await booking.refresh_from_db()
    return booking


async def _schedule_release(ctx, booking_id: int, delay: timedelta) -> None:
    if delay:
        jobs = ctx["jobs"] if isinstance(ctx, dict) else ctx.jobs
        # The periodic sweep releases it too, should this job be lost (the cancel has committed: an
        # unavailable queue must not fail it).
        try:
            await jobs.enqueue("booking.slot.release", job_id=f"booking-release-{booking_id}",
                               delay=delay.total_seconds(), booking_id=booking_id)
        except Exception as exc:
            log.warning("release job of booking %s not queued (%s); the sweep releases it", booking_id,
                        type(exc).__name__)


async def reschedule(*, ctx, cipher: PiiCipher, catalog: Catalog, now: datetime, booking: Booking,
                     choice: SlotChoice) -> Booking:
    """Cancel and book again under the same rules, atomically: if the new booking fails the old one stays."""
    _check_cancellable(catalog, now, booking)
    applicant = Applicant(booking.id_hash, booking.name_enc, booking.id_number_enc, booking.mobile_enc,
                          booking.citizen_id)
    channel = BookingChannel(booking.channel)
    p = await _prepare(ctx=ctx, cipher=cipher, catalog=catalog, now=now, choice=choice, channel=channel)
    await _check_suspension(catalog, now, applicant.id_hash)
    if p.agent_enc is None and booking.agent_credit_code_enc and choice.agent_credit_code is None:
        p.agent_enc = booking.agent_credit_code_enc
    delay = _release_delay(catalog, booking)
    async with in_transaction() as conn:
        await _lock_holder(conn, applicant.id_hash)
        await _cancel_in(conn, booking=booking, now=now, delay=delay)
        # Counter rows are touched in id order so two crossing reschedules cannot deadlock.
        if not delay and booking.counter_id < p.counter_id:
            await _return_place(conn, booking.counter_id)
        new = await _insert(conn, p=p, catalog=catalog, now=now, applicant=applicant, choice=choice,
                            channel=channel, staff_id=booking.created_by_staff_id, idem=None)
        if not delay and booking.counter_id >= p.counter_id:
            await _return_place(conn, booking.counter_id)
    await availability.invalidate(ctx, booking.hall_code, booking.date)
    await availability.invalidate(ctx, new.hall_code, new.date)
    await _schedule_release(ctx, booking.id, delay)
    return new


async def set_reminder(*, booking: Booking, subscribe: bool) -> Booking:
    """Turn the day-before reminder of a citizen's active booking on or off."""
    changed = await Booking.filter(id=booking.id, status__in=ACTIVE, citizen_id__not_isnull=True).update(
        subscribe=subscribe)
    if not changed:
        raise Conflict("该预约已取消或已结束，不再发送提醒", code="NOT_REMINDABLE")
    await booking.refresh_from_db()
    return booking


async def release_one(ctx, *, booking_id: int, now: datetime) -> bool:
    """Return one cancelled place to the pool once its delay has passed; exactly once."""
    booking = await Booking.get_or_none(id=booking_id).only("id", "counter_id", "hall_code", "date")
    if booking is None:
        return False
    counter_id, hall_code, day = booking.counter_id, booking.hall_code, booking.date
    async with in_transaction() as conn:
        released = await Booking.filter(id=booking_id, released_at=None, release_at__lte=now).using_db(conn).update(
            released_at=now)
        if released:
            await _return_place(conn, counter_id)
    if released:
        await availability.invalidate(ctx, hall_code, day)
    return bool(released)


async def release_due(ctx, *, now: datetime) -> int:
    """Return to the pool every cancelled place whose anti-scalping delay has passed."""
    due = await Booking.filter(released_at=None, release_at__lte=now).values_list("id", flat=True)
    return sum([await release_one(ctx, booking_id=booking_id, now=now) for booking_id in due])


# --------------------------------------------------------------------------- lookups


async def get_owned(*, booking_id: int, citizen: Citizen) -> Booking:
    """Return a booking made for this citizen's verified ID number (online or by the hotline), else 404.

    Keyed by the ID number only: an account whose binding is not verified (or was taken over by the ID's
    owner) sees none, not even bookings it made itself under that number.
    """
    booking = await Booking.get_or_none(id=booking_id)
    if booking is None or not citizen.id_hash or booking.id_hash != citizen.id_hash:
        raise NotFound("预约不存在", code="BOOKING_NOT_FOUND")
    return booking


async def get_all_owned(*, citizen: Citizen) -> list[Booking]:
    if not citizen.id_hash:
        return []
    return await Booking.filter(id_hash=citizen.id_hash).order_by("-slot_at").limit(100)


async def get_or_raise(*, booking_id: int) -> Booking:
    booking = await Booking.get_or_none(id=booking_id)
    if booking is None:
        raise NotFound("预约不存在", code="BOOKING_NOT_FOUND")
    return booking


async def get_all(*, cipher: PiiCipher, hall_code: str | None = None, day: date | None = None,
                  status: str | None = None, id_number: str | None = None, limit: int = 200) -> list[Booking]:
    """List bookings for staff, filtered by hall, day, status or the applicant's ID number."""
    qs = Booking.all()
    if hall_code:
        qs = qs.filter(hall_code=hall_code)
    if day:
        qs = qs.filter(date=day)
    if status:
        qs = qs.filter(status=status)
    if id_number:
        qs = qs.filter(id_hash=_id_hash(cipher, _validated(v.validate_resident_id, id_number)))
    return await qs.order_by("slot_at", "id").limit(limit)


# --------------------------------------------------------------------------- review mode


async def confirm(*, booking: Booking, staff_id: int, now: datetime, reason: str | None = None) -> Booking:
    """Confirm a pending booking (预约确认模式)."""
    changed = await Booking.filter(id=booking.id, status=BookingStatus.PENDING).update(
        status=BookingStatus.CONFIRMED, reviewed_by=staff_id, reviewed_at=now, review_reason=reason)
    if not changed:
        raise Conflict("该预约不在待确认状态", code="NOT_PENDING")
    await booking.refresh_from_db()
    return booking


async def decline(*, ctx, booking: Booking, staff_id: int, now: datetime, reason: str) -> Booking:
    """Decline a pending booking with a reason; its place returns to the pool at once."""
    async with in_transaction() as conn:
        changed = await Booking.filter(id=booking.id, status=BookingStatus.PENDING).using_db(conn).update(
            status=BookingStatus.DECLINED, reviewed_by=staff_id, reviewed_at=now, review_reason=reason,
            day_seq=None, release_at=now, released_at=now)
        if not changed:
            raise Conflict("该预约不在待确认状态", code="NOT_PENDING")
        await _return_place(conn, booking.counter_id)
    await availability.invalidate(ctx, booking.hall_code, booking.date)
    await booking.refresh_from_db()
    return booking


# --------------------------------------------------------------------------- check-in and walk-ins


async def _next_queue_no(hall_code: str, day: date, conn) -> int:
    await QueueCounter.filter(hall_code=hall_code, date=day).using_db(conn).update(issued=F("issued") + 1)
    return (await QueueCounter.filter(hall_code=hall_code, date=day).using_db(conn).get()).issued


async def _ensure_queue(hall_code: str, day: date) -> None:
    if not await QueueCounter.exists(hall_code=hall_code, date=day):
        try:
            await QueueCounter.create(hall_code=hall_code, date=day)
        except IntegrityError:
            pass  # created by a concurrent check-in


async def find_for_checkin(*, cipher: PiiCipher, hall_code: str, day: date, code: str | None,
                           id_number: str | None) -> Booking:
    """Find today's booking at a hall by booking code + ID number, or by ID number alone."""
    if not id_number:
        raise Unprocessable("签到须核验申请人身份证号", code="ID_NUMBER_REQUIRED")
    digest = _id_hash(cipher, _validated(v.validate_resident_id, id_number))
    qs = Booking.filter(id_hash=digest, hall_code=hall_code, date=day)
    if code:
        booking = await qs.filter(code=v._nfkc(code).strip().upper()).first()
        if booking is None:
            raise NotFound("预约码与身份证号不匹配，或不是今天本大厅的预约", code="BOOKING_NOT_FOUND")
        return booking
    bookings = await qs.order_by("slot_at")
    if not bookings:
        raise NotFound("未找到该身份证号今天在本大厅的预约", code="BOOKING_NOT_FOUND")
    # Prefer one that can still be checked in.
    return next((b for b in bookings if b.status in (*ACTIVE, BookingStatus.CHECKED_IN)), bookings[0])


async def check_in(*, catalog: Catalog, now: datetime, booking: Booking) -> tuple[Booking, bool]:
    """Check in within the window and hand out the next queue number; return (booking, already)."""
    if booking.status == BookingStatus.CHECKED_IN:
        return booking, True
    if booking.status == BookingStatus.PENDING:
        raise Conflict("该预约尚待中心确认，暂不能签到", code="NOT_CONFIRMED")
    if booking.status != BookingStatus.CONFIRMED:
        raise Conflict(f"该预约{STATUS_TEXT[booking.status]}，不能签到", code="NOT_CHECKABLE")
    minutes = catalog.rules.checkin_open_before_minutes
    opens = booking.slot_at - timedelta(minutes=minutes)
    if now < opens:
        raise Unprocessable(f"签到时间为时段开始前 {minutes} 分钟至时段结束，请于"
                            f"{opens.astimezone(catalog.tz):%m月%d日 %H:%M} 后签到", code="CHECKIN_TOO_EARLY")
    if now >= booking.slot_end_at:
        raise Unprocessable("已超过签到时间（须在时段结束前签到），请重新预约", code="CHECKIN_TOO_LATE")
    await _ensure_queue(booking.hall_code, booking.date)
    async with in_transaction() as conn:
        changed = await Booking.filter(id=booking.id, status=BookingStatus.CONFIRMED).using_db(conn).update(
            status=BookingStatus.CHECKED_IN, checked_in_at=now)
        if not changed:
            raise Conflict("该预约状态已变化，请刷新后重试", code="NOT_CHECKABLE")
        queue_no = await _next_queue_no(booking.hall_code, booking.date, conn)
        await Booking.filter(id=booking.id).using_db(conn).update(queue_no=queue_no)
        await queue_service.issue(conn, hall_code=booking.hall_code, day=booking.date, number=queue_no,
                                  business_type=booking.business_type, now=now, booking_id=booking.id)
    await booking.refresh_from_db()
    return booking, False


def _walk_in_channel(catalog: Catalog, code: str) -> dict:
    for ch in catalog.settings.get("walk_in_channels") or []:
        if ch.get("code") == code:
            return ch
    raise Unprocessable("免预约情形不存在", code="WALKIN_CHANNEL_NOT_FOUND")


async def walk_in(*, catalog: Catalog, now: datetime, hall: HallInfo, business_type: str,
                  channel_code: str | None, staff_id: int) -> WalkIn:
    """Give a green-channel visitor a queue number without a booking, and count it."""
    bt = catalog.business_type(business_type)
    check_scope(catalog, hall, bt)
    if channel_code:
        channel = _walk_in_channel(catalog, channel_code)
        allowed = channel.get("business_type_codes") or []
        if allowed and bt.code not in allowed:
            raise Unprocessable(f"“{channel.get('name')}”不适用于{bt.name}，请按预约办理", code="WALKIN_NOT_ELIGIBLE")
    elif bt.booking != "walk_in":
        raise Unprocessable(f"{bt.name}须预约办理；属绿色通道的请选择免预约情形", code="WALKIN_CHANNEL_REQUIRED")
    today = now.date()
    if not catalog.sessions_for(hall.code, today):
        raise Unprocessable(f"{hall.name}今天不对外服务", code="HALL_CLOSED")
    if catalog.is_booking_only(hall.code, today):
        raise Unprocessable(f"{hall.name}周六值班只办理预约业务，请预约后办理或于工作日到厅",
                            code="SATURDAY_BOOKING_ONLY")
    await _ensure_queue(hall.code, today)
    async with in_transaction() as conn:
        queue_no = await _next_queue_no(hall.code, today, conn)
        walk = await WalkIn.create(using_db=conn, hall_code=hall.code, date=today, business_type=bt.code,
                                   channel_code=channel_code or bt.code, queue_no=queue_no, staff_id=staff_id)
        await queue_service.issue(conn, hall_code=hall.code, day=today, number=queue_no, business_type=bt.code,
                                  now=now, walk_in_id=walk.id)
        return walk


async def figures(*, hall_code: str, day: date) -> dict:
    """Return a hall's daily figures: booked, checked in, no-shows, cancelled, walk-ins."""
    rows = await (Booking.filter(hall_code=hall_code, date=day).annotate(n=Count("id"))
                  .group_by("status").values_list("status", "n"))
    by = {str(status): n for status, n in rows}
    cancelled = by.get("cancelled", 0)
    walk_ins = await WalkIn.filter(hall_code=hall_code, date=day).count()
    return {
        "hall": hall_code, "date": day.isoformat(),
        "booked": sum(by.get(s.value, 0) for s in BookingStatus
                      if s not in (BookingStatus.CANCELLED, BookingStatus.DECLINED, BookingStatus.CENTER_CANCELLED)),
        "center_cancelled": by.get("center_cancelled", 0),
        "pending": by.get("pending", 0), "confirmed": by.get("confirmed", 0),
        "checked_in": by.get("checked_in", 0), "no_show": by.get("no_show", 0), "cancelled": cancelled,
        "declined": by.get("declined", 0), "expired": by.get("expired", 0), "walk_ins": walk_ins,
    }


# --------------------------------------------------------------------------- sweeps


def _closed_by_center(catalog: Catalog, hall_code: str, day: date, start: str) -> str | None:
    """Name the calendar entry that closed a booking's slot after it was booked (None while it is open)."""
    hall = catalog.halls.get(hall_code)
    if hall is None or not hall.active:
        return "大厅暂停服务"
    if time.fromisoformat(start) in catalog.slot_starts(hall_code, day):
        return None
    entries = [e for e in catalog.days.get(day, ()) if e.applies_to(hall_code)
               and e.kind in (DayKind.CLOSURE, DayKind.HOLIDAY)]
    return entries[0].name if entries else "该时段已停止服务"


async def closed_ahead(*, catalog: Catalog, now: datetime) -> list[Booking]:
    """Active bookings whose slot a calendar change closed (e.g. `dengji db seed` of calendar.yaml), not yet
    cancelled: the caller cancels them for the center so they stop counting against the citizen's limits."""
    rows = await Booking.filter(status__in=ACTIVE, slot_end_at__gt=now).only(
        "id", "hall_code", "date", "start", "end", "counter_id", "citizen_id", "status")
    return [b for b in rows if _closed_by_center(catalog, b.hall_code, b.date, b.start) is not None]


def closed_reason(catalog: Catalog, booking: Booking) -> str:
    return _closed_by_center(catalog, booking.hall_code, booking.date, booking.start) or "该时段已停止服务"


async def sweep_no_shows(*, catalog: Catalog, now: datetime) -> int:
    """Mark confirmed bookings not checked in by the slot's end as no-shows; suspend repeat offenders.

    A booking whose slot the center closed (a closure or holiday saved after it was booked and not yet
    applied to it) is cancelled for the center instead: the citizen was never expected to come.
    """
    await Booking.filter(status=BookingStatus.PENDING, slot_end_at__lte=now).update(status=BookingStatus.EXPIRED)
    rows = await Booking.filter(status=BookingStatus.CONFIRMED, slot_end_at__lte=now).values_list(
        "id", "id_hash", "hall_code", "date", "start")
    offenders: set[str] = set()
    for booking_id, digest, hall_code, day, start in rows:
        closed = _closed_by_center(catalog, hall_code, day, start)
        if closed is not None:
            await Booking.filter(id=booking_id, status=BookingStatus.CONFIRMED).update(
                status=BookingStatus.CENTER_CANCELLED, cancel_reason=closed[:255], cancelled_at=now, day_seq=None,
                release_at=now, released_at=now)
            continue
        if await Booking.filter(id=booking_id, status=BookingStatus.CONFIRMED).update(
                status=BookingStatus.NO_SHOW, no_show_at=now):
            offenders.add(digest)
    rules = catalog.rules
    for digest in offenders:
        recent = await Booking.filter(id_hash=digest, status=BookingStatus.NO_SHOW,
                                      slot_at__gte=now - timedelta(days=rules.no_show_window_days)).count()
        if recent >= rules.no_show_limit:
            until = now + timedelta(days=rules.suspension_days)
            await _holder(digest)
            await BookingHolder.filter(Q(suspended_until=None) | Q(suspended_until__lt=until),
                                       id_hash=digest).update(suspended_until=until)
            await Citizen.filter(id_hash=digest).update(suspended_until=until)
    return len(rows)


async def expire_idempotency_keys(*, ttl_seconds: int) -> int:
    """Drop the idempotency key of bookings made more than ttl_seconds ago: the key may then be used again.

    Against the database's own clock (created_at is written by it), not the booking clock.
    """
    cutoff = timezone.now() - timedelta(seconds=ttl_seconds)
    return await Booking.filter(idem_key__not_isnull=True, created_at__lt=cutoff).update(
        idem_owner=None, idem_key=None, idem_hash=None)


async def due_reminders(*, catalog: Catalog, now: datetime) -> list[int]:
    """Return ids of tomorrow's confirmed, subscribed bookings not yet reminded (after reminder time)."""
    if now.time() < catalog.rules.reminder_time:
        return []
    return await Booking.filter(date=now.date() + timedelta(days=1), status=BookingStatus.CONFIRMED,
                                subscribe=True, reminded_at=None, citizen_id__not_isnull=True
                                ).values_list("id", flat=True)


async def claim(*, booking_id: int, field: str, now: datetime) -> bool:
    """Mark a message as sent exactly once (conditional update); False when already claimed."""
    return bool(await Booking.filter(id=booking_id, **{field: None}).update(**{field: now}))


async def unclaim(*, booking_id: int, field: str) -> None:
    await Booking.filter(id=booking_id).update(**{field: None})


# --------------------------------------------------------------------------- serialisation


def read(cipher: PiiCipher, catalog: Catalog, booking: Booking, *, with_hint: bool = False) -> dict:
    """Serialise a booking with every personal field masked."""
    hall = catalog.halls.get(booking.hall_code)
    bt = catalog.business_types.get(booking.business_type)
    status = BookingStatus(booking.status)
    out = {
        "id": booking.id,
        "code": booking.code,
        "qr": f"DJBK:{booking.code}",  # the QR payload carries the code only, no personal data
        "hall": {"code": booking.hall_code, "name": hall.name if hall else booking.hall_code},
        "business_type": {"code": booking.business_type, "name": bt.name if bt else booking.business_type},
        "date": booking.date.isoformat(),
        "start": booking.start,
        "end": booking.end,
        "channel": BookingChannel(booking.channel).value,
        "status": status.value,
        "status_text": STATUS_TEXT[status],
        "name": v.mask_name(cipher.decrypt(booking.name_enc)),
        "id_number": v.mask_id(cipher.decrypt(booking.id_number_enc)),
        "mobile": v.mask_mobile(cipher.decrypt(booking.mobile_enc)),
        "agent_credit_code": (v.mask_credit_code(cipher.decrypt(booking.agent_credit_code_enc))
                              if booking.agent_credit_code_enc else None),
        "subscribe": booking.subscribe,
        "review_reason": booking.review_reason,
        "cancel_reason": booking.cancel_reason,
        "queue_no": f"{booking.queue_no:03d}" if booking.queue_no else None,
        "checked_in_at": booking.checked_in_at.isoformat() if booking.checked_in_at else None,
        "created_at": booking.created_at.isoformat() if booking.created_at else None,
        "provisional_note": catalog.provisional_note(booking.date),
    }
    if with_hint:
        out["online_hint"] = catalog.mode_on(bt, booking.date).online_hint if bt is not None else None
    return out


def walk_in_read(walk: WalkIn) -> dict:
    return {"id": walk.id, "hall": walk.hall_code, "date": walk.date.isoformat(),
            "business_type": walk.business_type, "channel": walk.channel_code, "queue_no": f"{walk.queue_no:03d}"}
