"""Staff routes for running the center: closures, hall hours, business scope, figures, banks.

Hall rule: staff bound to a hall (hall_staff always) act on and see only their hall; admins act on any.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import json, raw

from server.booking import flows as booking_flows
from server.booking.staff_views import _scope
from server.catalog import service as catalog_service
from server.core.auth import require_staff
from server.core.openapi import responds
from server.core.responses import (
    StaffBanksRead,
    StaffClosuresPostRead,
    StaffClosuresPreviewPostRead,
    StaffFiguresRead,
    StaffHallsCodeHoursPutRead,
    StaffHallsCodeScopeRead,
)
from server.core.validation import parse_body, parse_query
from server.operations import banks, closures, figures, service
from server.operations.schemas import ClosureCreate, FiguresQuery, HoursUpdate, ScopePause
from server.staff.audit import record_read

bp = Blueprint("operations_staff", url_prefix="/api/staff")


async def _audit(request: Request, action: str, target_type: str, target_id: object, fields) -> None:
    # The audit table records staff writes too: the action names the write, fields the keys it changed.
    await record_read(request, target_type=target_type, target_ids=[target_id], fields=list(fields), action=action)


async def _closure(request: Request, body: ClosureCreate) -> tuple[closures.ClosureSpec, object]:
    catalog, now = await booking_flows.context(request.app)
    halls = body.halls
    if request.ctx.principal.role != "admin":
        # Hall rule: a hall's staff close only their own hall (an unbound account is refused by _scope).
        halls = [_scope(request, h) for h in halls] or [_scope(request, None)]
    spec = closures.spec(catalog, first=body.date, last=body.end_date, halls=halls,
                         sessions=[s.model_dump() for s in body.sessions] if body.sessions is not None else None,
                         reason=body.reason, today=now.date())
    return spec, now


@bp.post("/closures/preview")
@require_staff("hall_staff")
@responds(StaffClosuresPreviewPostRead)
async def closure_preview(request: Request):
    """List (as counts per slot) the bookings a closure would cancel, before it is saved."""
    spec, _ = await _closure(request, parse_body(request, ClosureCreate))
    catalog = await catalog_service.get(request.app)
    return json(closures.preview_read(catalog, await closures.touched(spec)))


@bp.post("/closures")
@require_staff("hall_staff")
@responds(StaffClosuresPostRead)
async def closure_create(request: Request):
    """Close halls, days or sessions: the touched bookings are cancelled for the center and told by WeChat."""
    spec, now = await _closure(request, parse_body(request, ClosureCreate))
    out = await closures.close(request.app, closure=spec, staff_id=request.ctx.principal.id, now=now)
    await _audit(request, "closure.create", "calendar", ",".join(map(str, out["calendar_ids"])),
                 ["date", "halls", "sessions", "reason"])
    return json(out, status=201)


@bp.put("/halls/<code>/hours")
@require_staff("admin")
@responds(StaffHallsCodeHoursPutRead)
async def hours_update(request: Request, code: str):
    """Change a hall's hours, Saturday duty and extended hours (延时服务 / 超前服务); effective at once."""
    body = parse_body(request, HoursUpdate)
    _, now = await booking_flows.context(request.app)
    changes = body.changes()
    out = await service.update_hours(request.app, code=code, changes=changes, now=now)
    await _audit(request, "hall.hours.update", "hall", code, changes.keys())
    return json(out)


@bp.get("/halls/<code>/scope")
@require_staff("hall_staff", "reviewer")
@responds(StaffHallsCodeScopeRead)
async def scope(request: Request, code: str):
    _scope(request, code)
    return json(service.scope_read(await catalog_service.get(request.app), code))


@bp.put("/halls/<code>/scope/<business_type>")
@require_staff("admin")
@responds(StaffHallsCodeScopeRead)
async def scope_pause(request: Request, code: str, business_type: str):
    """Pause a business type at a hall with a reason."""
    body = parse_body(request, ScopePause)
    out = await service.pause(request.app, hall_code=code, business_type=business_type, reason=body.reason,
                              staff_id=request.ctx.principal.id)
    await _audit(request, "hall.scope.pause", "hall", code, [business_type])
    return json(out)


@bp.delete("/halls/<code>/scope/<business_type>")
@require_staff("admin")
@responds(StaffHallsCodeScopeRead)
async def scope_resume(request: Request, code: str, business_type: str):
    """Let a hall handle a paused business type again."""
    out = await service.resume(request.app, hall_code=code, business_type=business_type)
    await _audit(request, "hall.scope.resume", "hall", code, [business_type])
    return json(out)


@bp.get("/figures")
@require_staff("hall_staff", "reviewer")
@responds(StaffFiguresRead)
async def figures_view(request: Request):
    """Management figures per hall and center-wide, by day, week or month; CSV or .xlsx with format=."""
    query = parse_query(request, FiguresQuery)
    hall = _scope(request, query.hall)
    catalog, now = await booking_flows.context(request.app)
    table = await figures.get(catalog=catalog, start=query.start, end=query.end, hall=hall, by=query.by,
                              today=now.date())
    if query.format == "csv":
        return raw(figures.to_csv(table).encode("utf-8-sig"), content_type="text/csv; charset=utf-8",
                   headers={"Content-Disposition": 'attachment; filename="figures.csv"'})
    if query.format == "xlsx":
        return raw(figures.to_xlsx(table), headers={"Content-Disposition": 'attachment; filename="figures.xlsx"'},
                   content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return json(table)


@bp.get("/banks")
@require_staff()
@responds(StaffBanksRead)
async def bank_list(request: Request):
    return json({"items": [banks.read(b) for b in await banks.get_all()]})
