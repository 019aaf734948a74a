"""Closures of a hall, a day or a session (临时闭厅): preview the bookings they touch, then cancel them for
the center — a status of their own (center_cancelled), never a no-show, never counted against the citizen's
limits — and tell each citizen by WeChat with the reason and a link to rebook.

The console shows `preview` before the staff member confirms, then calls `close`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models import Booking, BookingStatus, CalendarDay, DayKind, SlotCounter
from server.booking import availability
from server.catalog import editing
from server.catalog import service as catalog_service
from server.catalog.service import Catalog
from server.core.errors import Unprocessable

NOTIFY_JOB = "booking.center_cancel.notify"
MAX_DAYS = 31
# Bookings a closure can touch: those still waiting for their slot (a checked-in visitor is already served).
TOUCHABLE = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


@dataclass(frozen=True)
class ClosureSpec:
    """What to close: days (first..last), halls (empty = every hall), sessions (None = whole day), why."""

    first: date
    last: date
    halls: tuple[str, ...]
    sessions: tuple[tuple[time, time], ...] | None
    reason: str

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def covers(self, booking: Booking) -> bool:
        if self.halls and booking.hall_code not in self.halls:
            return False
        if self.sessions is None:
            return True
        begin, end = time.fromisoformat(booking.start), time.fromisoformat(booking.end)
        return any(begin < b and a < end for a, b in self.sessions)


def spec(catalog: Catalog, *, first: date, last: date | None, halls: list[str], sessions: list[dict] | None,
         reason: str, today: date) -> ClosureSpec:
    """Check a closure request against the catalog (known halls, sane days and sessions)."""
    last = last or first
    if last < first:
        raise Unprocessable("结束日期不能早于开始日期", code="INVALID_DATE_RANGE")
    if (last - first).days >= MAX_DAYS:
        raise Unprocessable(f"一次最多关闭 {MAX_DAYS} 天", code="INVALID_DATE_RANGE")
    if first < today:
        raise Unprocessable("不能关闭已经过去的日期", code="DATE_PASSED")
    unknown = [h for h in halls if h not in catalog.halls]
    if unknown:
        raise Unprocessable(f"大厅编码不存在：{'、'.join(unknown)}", code="HALL_NOT_FOUND")
    periods = editing._sessions(sessions, catalog.rules.slot_minutes)
    return ClosureSpec(first, last, tuple(halls), None if periods is None else
                       tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in periods), reason.strip())


async def touched(closure: ClosureSpec) -> list[Booking]:
    """Return the active bookings a closure would cancel, in slot order."""
    qs = Booking.filter(date__gte=closure.first, date__lte=closure.last, status__in=TOUCHABLE)
    if closure.halls:
        qs = qs.filter(hall_code__in=list(closure.halls))
    return [b for b in await qs.order_by("slot_at", "id") if closure.covers(b)]


def preview_read(catalog: Catalog, bookings: list[Booking]) -> dict:
    """Summarise the touched bookings for the console (no personal data: counts by hall, day and slot)."""
    groups: dict[tuple[str, str, str], int] = {}
    for b in bookings:
        key = (b.hall_code, b.date.isoformat(), b.start)
        groups[key] = groups.get(key, 0) + 1
    return {
        "count": len(bookings),
        "reachable": sum(1 for b in bookings if b.citizen_id is not None),
        "slots": [{"hall": h, "hall_name": catalog.halls[h].name if h in catalog.halls else h, "date": d,
                   "start": s, "bookings": n} for (h, d, s), n in sorted(groups.items())],
        "booking_ids": [b.id for b in bookings],
    }


async def cancel_for_center(ctx, *, bookings: list[Booking], reason: str, closure_id: int | None,
                            now: datetime) -> list[int]:
    """Cancel bookings for the center: their places and the person's daily place are freed at once.

    Conditional on the booking still being active, so a booking checked in or cancelled meanwhile stays as is.
    Returns the ids actually cancelled.
    """
    done: list[int] = []
    for b in bookings:
        async with in_transaction() as conn:
            changed = await Booking.filter(id=b.id, status__in=TOUCHABLE).using_db(conn).update(
                status=BookingStatus.CENTER_CANCELLED, cancel_reason=reason[:255], closure_id=closure_id,
                cancelled_at=now, day_seq=None, release_at=now, released_at=now)
            if changed:
                await SlotCounter.filter(id=b.counter_id, booked__gt=0).using_db(conn).update(
                    booked=F("booked") - 1)
                done.append(b.id)
    for hall_code, day in {(b.hall_code, b.date) for b in bookings}:
        await availability.invalidate(ctx, hall_code, day)
    return done


async def close(app, *, closure: ClosureSpec, staff_id: int, now: datetime) -> dict:
    """Save the closure in the calendar, cancel the bookings it touches and queue one WeChat notice each."""
    entries = []
    sessions = None if closure.sessions is None else [[a.strftime("%H:%M"), b.strftime("%H:%M")]
                                                       for a, b in closure.sessions]
    for day in closure.days():
        entries.append(await _entry(day, closure.reason, list(closure.halls), sessions))
    await catalog_service.changed(app)  # no new booking lands in the closed slots from here on
    by_day = {e.date: e.id for e in entries}
    cancelled: list[int] = []
    for b in await touched(closure):
        cancelled += await cancel_for_center(app.ctx, bookings=[b], reason=closure.reason,
                                             closure_id=by_day.get(b.date), now=now)
    await notify(app.ctx.jobs, cancelled)
    return {"calendar_ids": [e.id for e in entries], "cancelled": len(cancelled), "booking_ids": cancelled}


async def _entry(day: date, reason: str, halls: list[str], sessions: list | None) -> CalendarDay:
    """The calendar entry of a closure: the same one when repeated, a numbered one when the same reason
    closes other halls or sessions that day (entries are unique by date, kind and name)."""
    for n in range(1, 50):
        name = reason[:120] if n == 1 else f"{reason[:120]}（{n}）"
        entry = await CalendarDay.get_or_none(date=day, kind=DayKind.CLOSURE, name=name)
        if entry is None:
            return await CalendarDay.create(date=day, kind=DayKind.CLOSURE, name=name, halls=halls,
                                            sessions=sessions)
        if sorted(entry.halls or []) == sorted(halls) and entry.sessions == sessions:
            return entry
    raise Unprocessable("同一天同一原因的闭厅记录过多，请换一个原因说明", code="CLOSURE_CONFLICT")


async def notify(jobs, booking_ids: list[int]) -> None:
    """Queue the WeChat notice of each booking cancelled by the center (the job id dedupes)."""
    for booking_id in booking_ids:
        await jobs.enqueue(NOTIFY_JOB, job_id=f"center-cancel-{booking_id}", booking_id=booking_id)


async def cancel_for_entry(app, *, entry: CalendarDay, now: datetime) -> list[int]:
    """Cancel the bookings a holiday or closure added through the calendar touches (same rules as `close`)."""
    closure = ClosureSpec(entry.date, entry.date, tuple(entry.halls or ()),
                          None if not entry.sessions or entry.kind == DayKind.HOLIDAY else
                          tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in entry.sessions),
                          entry.name)
    cancelled = await cancel_for_center(app.ctx, bookings=await touched(closure), reason=entry.name,
                                        closure_id=entry.id, now=now)
    await notify(app.ctx.jobs, cancelled)
    return cancelled
