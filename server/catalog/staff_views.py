"""Staff routes for the service calendar (admin): holidays, make-up days, extra service days, closures."""

from sanic import Blueprint, Request
from sanic.response import json

from models import DayKind
from server.catalog import editing
from server.catalog.schemas import CalendarDayCreate, CalendarQuery
from server.core.auth import require_staff
from server.core.openapi import responds
from server.core.responses import OkRead, StaffCalendarPostRead, StaffCalendarRead
from server.core.validation import parse_body, parse_query

bp = Blueprint("catalog_staff", url_prefix="/api/staff")


@bp.get("/calendar")
@require_staff("admin")
@responds(StaffCalendarRead)
async def days(request: Request):
    query = parse_query(request, CalendarQuery)
    return json({"items": [editing.day_read(d) for d in await editing.get_all_days(start=query.start,
                                                                                  end=query.end)]})


@bp.post("/calendar")
@require_staff("admin")
@responds(StaffCalendarPostRead)
async def create_day(request: Request):
    body = parse_body(request, CalendarDayCreate)
    entry = await editing.create_day(request.app, day=body.date, kind=body.kind, name=body.name, halls=body.halls,
                                     sessions=[s.model_dump() for s in body.sessions] if body.sessions else None)
    out = editing.day_read(entry)
    if entry.kind in (DayKind.HOLIDAY, DayKind.CLOSURE):
        # A holiday or closure added late cancels the bookings it touches for the center (and tells them).
        from server.booking import flows
        from server.operations import closures

        _, now = await flows.context(request.app)
        out["cancelled_bookings"] = len(await closures.cancel_for_entry(request.app, entry=entry, now=now))
    return json(out, status=201)


@bp.delete("/calendar/<day_id:int>")
@require_staff("admin")
@responds(OkRead)
async def delete_day(request: Request, day_id: int):
    await editing.delete_day(request.app, day_id=day_id)
    return json({"ok": True})
