"""Booking routes: citizens (mini-program) and staff (hotline, reviewers, hall staff, admins)."""

import asyncio
import contextlib
import logging

from sanic import Blueprint, Request
from sanic.response import json, raw

from server.booking import availability, clock, flows
from server.booking.schemas import BookingCreate, BookingReminder, BookingReschedule, SlotsQuery
from server.booking.staff_views import bp as staff_bp
from server.catalog.staff_views import bp as calendar_bp
from server.core.auth import current_principal, require_citizen
from server.core.openapi import responds
from server.core.responses import BookingRead, Items, SlotsRead
from server.core.validation import parse_body, parse_query

citizen_bp = Blueprint("booking", url_prefix="/api")
log = logging.getLogger("dengji.booking")


async def setup(app) -> None:
    """Give the app and its jobs one shared clock; follow other workers' availability changes."""
    app.ctx.clock = clock.Clock()
    app.ctx.job_ctx["clock"] = app.ctx.clock
    app.ctx.availability_listener = asyncio.create_task(availability.listen(app.ctx))
    app.ctx.counter_ids_loader = asyncio.create_task(_keep_counter_ids(app))


async def _keep_counter_ids(app) -> None:
    """Keep this worker's counter ids of the booking window loaded (the window moves daily)."""
    while True:
        try:
            catalog, now = await flows.context(app)
            await availability.load_window_ids(app.ctx, catalog, now)
        except Exception:
            log.warning("could not load the booking window's counter ids; bookings fetch them as needed")
        await asyncio.sleep(60)


@citizen_bp.before_server_stop
async def stop_listening(app, _loop=None) -> None:
    for name in ("availability_listener", "counter_ids_loader"):
        task = getattr(app.ctx, name, None)
        if task is not None:
            task.cancel()
            # Bounded: a stop never waits on a task that is slow to notice its cancellation.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 2)


@citizen_bp.get("/halls/<hall_ref>/slots")
@responds(SlotsRead)
async def slots(request: Request, hall_ref: str):
    """Slots of a hall on a day with the places left for the caller's channel."""
    query = parse_query(request, SlotsQuery)
    principal = await current_principal(request) if "authorization" in request.headers else None
    body = await flows.slots(request.app, principal=principal, hall_ref=hall_ref, day=query.date)
    return raw(body, content_type="application/json")


@citizen_bp.post("/bookings")
@require_citizen
@responds(BookingRead)
async def create(request: Request):
    """Book a slot (real-name bound citizens; `Idempotency-Key` makes retries safe)."""
    body = parse_body(request, BookingCreate)
    data, created = await flows.book_online(request.app, citizen_id=request.ctx.principal.id, body=body,
                                            idempotency_key=request.headers.get("idempotency-key"))
    return json(data, status=201 if created else 200)


@citizen_bp.get("/bookings")
@require_citizen
@responds(Items[BookingRead])
async def mine(request: Request):
    return json({"items": await flows.my_bookings(request.app, citizen_id=request.ctx.principal.id)})


@citizen_bp.get("/bookings/<booking_id:int>")
@require_citizen
@responds(BookingRead)
async def detail(request: Request, booking_id: int):
    return json(await flows.my_booking(request.app, citizen_id=request.ctx.principal.id, booking_id=booking_id))


@citizen_bp.post("/bookings/<booking_id:int>/cancel")
@require_citizen
@responds(BookingRead)
async def cancel(request: Request, booking_id: int):
    return json(await flows.cancel_mine(request.app, citizen_id=request.ctx.principal.id, booking_id=booking_id))


@citizen_bp.post("/bookings/<booking_id:int>/reschedule")
@require_citizen
@responds(BookingRead)
async def reschedule(request: Request, booking_id: int):
    body = parse_body(request, BookingReschedule)
    data = await flows.reschedule_mine(request.app, citizen_id=request.ctx.principal.id, booking_id=booking_id,
                                       body=body)
    return json(data, status=201)


@citizen_bp.post("/bookings/<booking_id:int>/reminder")
@require_citizen
@responds(BookingRead)
async def reminder(request: Request, booking_id: int):
    """Subscribe an active booking to the day-before reminder, or stop it."""
    body = parse_body(request, BookingReminder)
    return json(await flows.remind_mine(request.app, citizen_id=request.ctx.principal.id, booking_id=booking_id,
                                        subscribe=body.subscribe))


bp = Blueprint.group(citizen_bp, staff_bp, calendar_bp)
