"""Staff booking routes. Hall staff only reach their own hall; every read of personal data is audited."""

from __future__ import annotations

from datetime import date

from sanic import Blueprint, Request
from sanic.response import json

from server.booking import availability, flows, service
from server.booking.schemas import (
    CheckinCreate,
    FiguresQuery,
    HallUpdate,
    HotlineBookingCreate,
    ReviewConfirm,
    ReviewDecline,
    SlotQuotaUpdate,
    StaffBookingQuery,
    WalkInCreate,
)
from server.core.auth import hall_scope, require_staff
from server.core.openapi import responds
from server.core.responses import (
    BookingRead,
    Items,
    StaffCheckinPostRead,
    StaffHallsCodeFiguresRead,
    StaffHallsCodePutRead,
    StaffHallsCodeSlotsDayStartPutRead,
    StaffWalkinsPostRead,
)
from server.core.validation import parse_body, parse_query
from server.staff.audit import record_read

bp = Blueprint("booking_staff", url_prefix="/api/staff")


def _scope(request: Request, hall_code: str | None) -> str | None:
    """Keep staff bound to a hall (hall_staff always are) inside it."""
    return hall_scope(request.ctx.principal, hall_code)


async def _audited(request: Request, bookings: list, catalog) -> list[dict]:
    await record_read(request, target_type="booking", target_ids=[b.id for b in bookings], fields=flows.PII_FIELDS)
    return [service.read(request.app.ctx.cipher, catalog, b) for b in bookings]


async def _hall(request: Request, ref: str):
    catalog, now = await flows.context(request.app)
    hall = availability.resolve_hall(catalog, ref)
    _scope(request, hall.code)
    return catalog, now, hall


@bp.post("/bookings")
@require_staff("hotline")
@responds(BookingRead)
async def hotline_create(request: Request):
    """Book on a caller's behalf from the hotline share (电话预约)."""
    body = parse_body(request, HotlineBookingCreate)
    await _hall(request, body.hall)
    booking, created = await flows.book_by_hotline(request.app, staff_id=request.ctx.principal.id, body=body,
                                                   idempotency_key=request.headers.get("idempotency-key"))
    catalog, _ = await flows.context(request.app)
    return json((await _audited(request, [booking], catalog))[0], status=201 if created else 200)


@bp.get("/bookings")
@require_staff("reviewer", "hall_staff", "hotline")
@responds(Items[BookingRead])
async def bookings(request: Request):
    """List bookings (masked) by hall, date, status or ID number; the read is audited."""
    query = parse_query(request, StaffBookingQuery)
    catalog, _ = await flows.context(request.app)
    rows = await service.get_all(cipher=request.app.ctx.cipher, hall_code=_scope(request, query.hall), day=query.date,
                                 status=query.status, id_number=query.id_number, limit=query.limit)
    return json({"items": await _audited(request, rows, catalog)})


@bp.get("/bookings/<booking_id:int>")
@require_staff("reviewer", "hall_staff", "hotline")
@responds(BookingRead)
async def booking_detail(request: Request, booking_id: int):
    booking = await service.get_or_raise(booking_id=booking_id)
    _scope(request, booking.hall_code)
    catalog, _ = await flows.context(request.app)
    return json((await _audited(request, [booking], catalog))[0])


@bp.post("/bookings/<booking_id:int>/confirm")
@require_staff("reviewer")
@responds(BookingRead)
async def confirm(request: Request, booking_id: int):
    """Confirm a pending booking; the citizen gets the result by subscribe message."""
    body = parse_body(request, ReviewConfirm)
    booking = await service.get_or_raise(booking_id=booking_id)
    _scope(request, booking.hall_code)
    catalog, now = await flows.context(request.app)
    booking = await service.confirm(booking=booking, staff_id=request.ctx.principal.id, now=now, reason=body.reason)
    await request.app.ctx.jobs.enqueue("booking.review.notify", job_id=f"review-{booking.id}", booking_id=booking.id)
    return json((await _audited(request, [booking], catalog))[0])


@bp.post("/bookings/<booking_id:int>/decline")
@require_staff("reviewer")
@responds(BookingRead)
async def decline(request: Request, booking_id: int):
    """Decline a pending booking with a reason; the place returns to the pool."""
    body = parse_body(request, ReviewDecline)
    booking = await service.get_or_raise(booking_id=booking_id)
    _scope(request, booking.hall_code)
    catalog, now = await flows.context(request.app)
    booking = await service.decline(ctx=request.app.ctx, booking=booking, staff_id=request.ctx.principal.id, now=now,
                                    reason=body.reason)
    await request.app.ctx.jobs.enqueue("booking.review.notify", job_id=f"review-{booking.id}", booking_id=booking.id)
    return json((await _audited(request, [booking], catalog))[0])


@bp.post("/bookings/<booking_id:int>/cancel")
@require_staff("hotline")
@responds(BookingRead)
async def staff_cancel(request: Request, booking_id: int):
    """Cancel a booking on a caller's behalf (same cut-off as online), during hotline hours."""
    booking = await service.get_or_raise(booking_id=booking_id)
    _scope(request, booking.hall_code)
    catalog, now = await flows.context(request.app)
    flows.require_hotline_open(catalog, now)
    booking = await service.cancel(ctx=request.app.ctx, catalog=catalog, now=now, booking=booking)
    return json((await _audited(request, [booking], catalog))[0])


@bp.post("/checkin")
@require_staff("hall_staff")
@responds(StaffCheckinPostRead)
async def checkin(request: Request):
    """Check a visitor in by booking code + ID number, or by ID number; hands out a queue number."""
    body = parse_body(request, CheckinCreate)
    catalog, now, hall = await _hall(request, body.hall)
    booking = await service.find_for_checkin(cipher=request.app.ctx.cipher, hall_code=hall.code, day=now.date(),
                                             code=body.code, id_number=body.id_number)
    booking, already = await service.check_in(catalog=catalog, now=now, booking=booking)
    return json({"already": already, "queue_no": f"{booking.queue_no:03d}",
                 "booking": (await _audited(request, [booking], catalog))[0]})


@bp.post("/walkins")
@require_staff("hall_staff")
@responds(StaffWalkinsPostRead)
async def walkins(request: Request):
    """Give a green-channel (免预约) visitor a queue number; counted in the day's figures."""
    body = parse_body(request, WalkInCreate)
    catalog, now, hall = await _hall(request, body.hall)
    walk = await service.walk_in(catalog=catalog, now=now, hall=hall, business_type=body.business_type,
                                 channel_code=body.channel, staff_id=request.ctx.principal.id)
    return json(service.walk_in_read(walk), status=201)


@bp.get("/halls/<code>/figures")
@require_staff("hall_staff", "reviewer")
@responds(StaffHallsCodeFiguresRead)
async def hall_figures(request: Request, code: str):
    """A hall's daily figures: booked, checked in, no-shows, cancelled, walk-ins."""
    query = parse_query(request, FiguresQuery)
    _, now, hall = await _hall(request, code)
    return json(await service.figures(hall_code=hall.code, day=query.date or now.date()))


@bp.put("/halls/<code>")
@require_staff("admin")
@responds(StaffHallsCodePutRead)
async def hall_update(request: Request, code: str):
    """Change a hall's review mode, quotas or anti-scalping release delay."""
    body = parse_body(request, HallUpdate)
    return json(await flows.update_hall(request.app, code=code, changes=body.model_dump(exclude_none=True)))


@bp.put("/halls/<code>/slots/<day:ymd>/<start>")
@require_staff("admin")
@responds(StaffHallsCodeSlotsDayStartPutRead)
async def slot_quota(request: Request, code: str, day: date, start: str):
    """Set one slot's places (加号 / 减号): total and hotline share; existing bookings stay."""
    body = parse_body(request, SlotQuotaUpdate)
    return json(await flows.set_slot_quota(request.app, hall_code=code, day=day, start=start, quota=body.quota,
                                           hotline_quota=body.hotline_quota))
