"""Hall desk (hall_staff): today's bookings by slot, check-in, walk-ins, the queue, the call-screen link, and the
counter binding code (POST /api/staff/binding-codes' service) for a citizen whose ID card was checked here."""

from __future__ import annotations

from itertools import groupby

from sanic import Blueprint, Request
from sanic.response import redirect

from server.booking import flows, service
from server.booking.schemas import CheckinCreate, WalkInCreate
from server.booking.staff_views import _scope as scope_hall  # the API's hall rule, not a copy of it
from server.console import screen
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import refuse, render
from server.console.session import page
from server.core.errors import AppError
from server.identity import verification
from server.identity.schemas import BindingCodeCreate
from server.queue import service as queue
from server.staff.audit import record_read

bp = Blueprint("console_desk", url_prefix="/console")
SCAN_PREFIX = "DJBK:"  # a booking's QR payload; a scanner types it into the code field like a keyboard
CHECKIN_FIELDS = {"ID_NUMBER_REQUIRED": "id_number", "INVALID_ID_NUMBER": "id_number",
                  "BOOKING_NOT_FOUND": "code"}
WALKIN_FIELDS = {"BUSINESS_TYPE_NOT_FOUND": "business_type", "WALKIN_CHANNEL_NOT_FOUND": "channel",
                 "WALKIN_NOT_ELIGIBLE": "channel", "WALKIN_CHANNEL_REQUIRED": "channel"}


async def _hall(request: Request, code: str):
    catalog, now = await flows.context(request.app)
    hall = catalog.hall(code)
    scope_hall(request, hall.code)
    return catalog, now, hall


async def _queue_context(request: Request, catalog, now, hall, window: str) -> dict:
    day = now.date()
    tickets = await queue.get_all(hall_code=hall.code, day=day, limit=500)
    waiting = await queue.waiting_counts(hall_code=hall.code, day=day)
    return {
        "window": window,
        "current": await queue.at_window(hall_code=hall.code, day=day, window=window),
        "called": [t for t in tickets if t.status == "called"],
        "waiting": [(catalog.business_types[bt].name if bt in catalog.business_types else bt, n)
                    for bt, n in sorted(waiting.items())],
        "waiting_total": sum(waiting.values()),
        "averages": queue.average_minutes(tickets),
        "bt_names": {code: bt.name for code, bt in catalog.business_types.items()},
    }


async def _desk(request: Request, code: str, *, status: int = 200, **extra):
    try:
        catalog, now, hall = await _hall(request, code)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    window = extra.pop("window", None) or request.args.get("window") or "1"
    ctx = await _queue_context(request, catalog, now, hall, window)
    fragment = extra.pop("fragment", None)
    if request.headers.get("hx-request") and fragment:
        template = "desk_queue_live.html" if fragment == "live" else "desk_queue.html"
        return render(request, template, status=status, hall=hall, **ctx, **extra)
    rows = await service.get_all(cipher=request.app.ctx.cipher, hall_code=hall.code, day=now.date(), limit=1000)
    await record_read(request, target_type="booking", target_ids=[b.id for b in rows], fields=flows.PII_FIELDS)
    bookings = [service.read(request.app.ctx.cipher, catalog, b) for b in rows]
    slots = [(start, list(items)) for start, items in groupby(bookings, key=lambda b: f"{b['start']}–{b['end']}")]
    channels = catalog.settings.get("walk_in_channels") or []
    return render(request, "desk.html", status=status, hall=hall, today=now.date(), slots=slots,
                  business_types=[bt for bt in catalog.business_types.values() if bt.active], channels=channels,
                  **ctx, **extra)


@bp.get("/desk")
@page("hall_staff")
async def desk_home(request: Request):
    """Hall staff go to their hall's desk; others pick a hall."""
    principal = request.ctx.principal
    if principal.hall_code:
        return redirect(f"/console/halls/{principal.hall_code}/desk")
    if principal.role != "admin":
        return refuse(request, "账号未绑定大厅，请联系管理员")
    catalog, _ = await flows.context(request.app)
    return render(request, "desk_pick.html", halls=[h for h in catalog.halls.values() if h.active])


@bp.get("/halls/<code>/desk")
@page("hall_staff")
async def desk(request: Request, code: str):
    return await _desk(request, code)


@bp.get("/halls/<code>/queue")
@page("hall_staff")
async def queue_panel(request: Request, code: str):
    """The queue's live part alone (htmx refreshes it every few seconds)."""
    return await _desk(request, code, fragment="live")


@bp.post("/halls/<code>/checkin")
@page("hall_staff")
async def checkin(request: Request, code: str):
    data = fields(request)
    if data.get("code", "").upper().startswith(SCAN_PREFIX):
        data["code"] = data["code"][len(SCAN_PREFIX):]
    try:
        body = parse(CheckinCreate, data | {"hall": code})
        catalog, now, hall = await _hall(request, code)
        booking = await service.find_for_checkin(cipher=request.app.ctx.cipher, hall_code=hall.code,
                                                 day=now.date(), code=body.code, id_number=body.id_number)
        booking, already = await service.check_in(catalog=catalog, now=now, booking=booking)
    except FormError as exc:
        return await _desk(request, code, status=422, errors=exc.errors, form=data)
    except AppError as exc:
        return await _desk(request, code, status=exc.status, form=data,
                           errors=from_app_error(exc, CHECKIN_FIELDS).errors)
    await record_read(request, target_type="booking", target_ids=[booking.id], fields=flows.PII_FIELDS)
    shown = service.read(request.app.ctx.cipher, catalog, booking)
    verb = "已签到过" if already else "签到成功"
    return await _desk(request, code, checked=shown,
                       flash=f"{verb}：{shown['name']}（{shown['id_number']}），排队号 {shown['queue_no']}")


@bp.post("/halls/<code>/walkin")
@page("hall_staff")
async def walkin(request: Request, code: str):
    data = fields(request)
    try:
        body = parse(WalkInCreate, data | {"hall": code})
        catalog, now, hall = await _hall(request, code)
        walk = await service.walk_in(catalog=catalog, now=now, hall=hall, business_type=body.business_type,
                                     channel_code=body.channel, staff_id=request.ctx.principal.id)
    except FormError as exc:
        return await _desk(request, code, status=422, errors=exc.errors, walk_form=data)
    except AppError as exc:
        return await _desk(request, code, status=exc.status, walk_form=data,
                           errors=from_app_error(exc, WALKIN_FIELDS).errors)
    return await _desk(request, code, flash=f"免预约取号成功，排队号 {queue.label(walk.queue_no)}")


@bp.post("/halls/<code>/queue/next")
@page("hall_staff")
async def call_next(request: Request, code: str):
    data = fields(request)
    window = data.get("window", "")
    try:
        _, now, hall = await _hall(request, code)
        ticket = await queue.call_next(ctx=request.app.ctx, hall_code=hall.code, day=now.date(), window=window,
                                       now=now, business_type=data.get("business_type"))
    except AppError as exc:
        return await _desk(request, code, fragment=True, window=window, status=exc.status,
                           errors=from_app_error(exc, {"WINDOW_REQUIRED": "window"}).errors)
    return await _desk(request, code, fragment=True, window=window,
                       flash=f"请 {queue.label(ticket.number)} 号到 {ticket.window} 号窗口")


@bp.post("/halls/<code>/queue/<ticket_id:int>/<action:recall|skip|done>")
@page("hall_staff")
async def ticket_action(request: Request, code: str, ticket_id: int, action: str):
    window = fields(request).get("window", "")
    try:
        _, now, hall = await _hall(request, code)
        ticket = await queue.get_or_raise(hall_code=hall.code, ticket_id=ticket_id)
        if action == "recall":
            ticket = await queue.recall(ctx=request.app.ctx, ticket=ticket)
        else:
            ticket = await queue.finish(ticket=ticket, now=now, skipped=action == "skip")
    except AppError as exc:
        return await _desk(request, code, fragment=True, window=window, status=exc.status,
                           errors={"": exc.message})
    text = {"recall": "已重呼", "skip": "已过号", "done": "已办结"}[action]
    return await _desk(request, code, fragment=True, window=window, flash=f"{queue.label(ticket.number)} 号{text}")


@bp.post("/halls/<code>/screen-token")
@page("hall_staff")
async def screen_token(request: Request, code: str):
    """Make a long-lived link for the hall's call screen (the TV has no staff login)."""
    try:
        _, _, hall = await _hall(request, code)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    token = await screen.issue_token(request.app, hall.code)
    url = f"{request.scheme}://{request.host}/console/halls/{hall.code}/screen?token={token}"
    return await _desk(request, code, screen_url=url, flash="已生成叫号大屏链接，请在大厅电视的浏览器中打开")


def _bind_field(code: str) -> str:
    """The desk form's box for an identity error code (INVALID_ID_NUMBER, INVALID_MOBILE, INVALID_NAME...)."""
    return next((f"bind_{name}" for key, name in (("ID", "id_number"), ("MOBILE", "mobile"), ("NAME", "name"))
                 if key in code), "bind_id_number")


@bp.post("/halls/<code>/binding-code")
@page("hall_staff")
async def binding_code(request: Request, code: str):
    """Issue a one-time binding code for the person whose ID card the desk just checked (the API's service)."""
    data = fields(request)
    form = {k: data.get(f"bind_{k}", "") for k in ("name", "id_number", "mobile")}
    try:
        _, _, hall = await _hall(request, code)
        if data.get("bind_checked") != "1":
            raise FormError({"bind_checked": "请先核验身份证原件"})
        try:
            body = parse(BindingCodeCreate, {k: v for k, v in form.items() if v} | {"hall_code": hall.code})
        except FormError as exc:
            raise FormError({f"bind_{k}": v for k, v in exc.errors.items()}) from exc
        issued = await verification.issue_counter_code(
            request.app, staff=request.ctx.principal, ip=request.remote_addr or request.ip,
            request_id=getattr(request.ctx, "request_id", None), **body.model_dump())
    except FormError as exc:
        return await _desk(request, code, status=422, errors=exc.errors, bind_form=form)
    except AppError as exc:
        return await _desk(request, code, status=exc.status, bind_form=form,
                           errors={_bind_field(exc.code): exc.message})
    return await _desk(request, code, issued=issued)
