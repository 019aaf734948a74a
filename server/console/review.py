"""Review queue (reviewer), hotline (hotline) and cases (reviewer): pages over the booking and progress
services the API uses; every page that shows personal data writes the same audit rows as the API."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

from sanic import Blueprint, Request
from sanic.response import redirect

from models import BookingStatus
from server.booking import flows, service
from server.booking.schemas import HotlineBookingCreate, ReviewConfirm, ReviewDecline, SlotsQuery
from server.booking.staff_views import _scope as scope_hall
from server.catalog import service as catalog_service
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import refuse, render
from server.console.session import page
from server.core.errors import AppError
from server.progress import service as progress
from server.staff.audit import record_read

bp = Blueprint("console_review", url_prefix="/console")
SLOT_REASONS = {"NOT_RELEASED": "未放号", "TOO_LATE": "已过预约时间", "FULL": "已约满"}
REVIEW_PAGE = 100  # the earliest pending bookings; each decision makes room for the next
HOTLINE_FIELDS = {"HALL_NOT_FOUND": "hall", "BUSINESS_TYPE_NOT_FOUND": "business_type", "SLOT_FULL": "start",
                  "SLOT_NOT_FOUND": "start", "NOT_RELEASED": "date", "TOO_LATE": "start", "DATE_PASSED": "date"}


async def _shown(request: Request, bookings: list) -> list[dict]:
    await record_read(request, target_type="booking", target_ids=[b.id for b in bookings], fields=flows.PII_FIELDS)
    catalog, _ = await flows.context(request.app)
    return [service.read(request.app.ctx.cipher, catalog, b) for b in bookings]


# ------------------------------------------------------------------ review queue

async def _review(request: Request, *, status: int = 200, **extra):
    try:
        hall = scope_hall(request, request.args.get("hall") or None)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    rows = await service.get_all(cipher=request.app.ctx.cipher, hall_code=hall, status=BookingStatus.PENDING,
                                 limit=REVIEW_PAGE)
    return render(request, "review.html", status=status, bookings=await _shown(request, rows), **extra)


@bp.get("/review")
@page("reviewer")
async def review(request: Request):
    return await _review(request)


@bp.post("/review/<booking_id:int>/<decision:confirm|decline>")
@page("reviewer")
async def decide(request: Request, booking_id: int, decision: str):
    data = fields(request)
    try:
        booking = await service.get_or_raise(booking_id=booking_id)
        scope_hall(request, booking.hall_code)
        _, now = await flows.context(request.app)
        staff_id = request.ctx.principal.id
        if decision == "confirm":
            body = parse(ReviewConfirm, {"reason": data.get("reason")})
            booking = await service.confirm(booking=booking, staff_id=staff_id, now=now, reason=body.reason)
        else:
            body = parse(ReviewDecline, {"reason": data.get("reason", "")})
            booking = await service.decline(ctx=request.app.ctx, booking=booking, staff_id=staff_id, now=now,
                                            reason=body.reason)
    except FormError as exc:
        return await _review(request, status=422, errors=exc.errors, error_id=booking_id)
    except AppError as exc:
        return await _review(request, status=exc.status, errors={"": exc.message})
    await request.app.ctx.jobs.enqueue("booking.review.notify", job_id=f"review-{booking.id}", booking_id=booking.id)
    verb = "已确认" if decision == "confirm" else "已拒绝"
    return await _review(request, flash=f"预约 {booking.code} {verb}")


# ------------------------------------------------------------------ hotline

async def _hotline(request: Request, *, status: int = 200, found: list | None = None, **extra):
    catalog, now = await flows.context(request.app)
    extra.setdefault("form", {"date": (now.date()).isoformat()})
    hotline = (catalog.settings.get("center") or {}).get("hotline") or {}
    return render(request, "hotline.html", status=status, found=found,
                  closed_notice=None if catalog.hotline_open(now) else
                  f"现在不在热线服务时间（{hotline.get('hours_text', '')}），不能办理电话预约或取消。",
                  halls=[h for h in catalog.halls.values() if h.active],
                  business_types=[b for b in catalog.business_types.values() if b.active and b.booking != "walk_in"],
                  idem=secrets.token_urlsafe(12), **extra)


@bp.get("/hotline")
@page("hotline")
async def hotline(request: Request):
    return await _hotline(request)


@bp.post("/hotline/find")
@page("hotline", audit=False)
async def hotline_find(request: Request):
    """A caller's bookings by ID number: sent by POST, so the number never sits in a URL or an access log."""
    id_number = (fields(request).get("id_number") or "").strip()
    if not id_number:
        return await _hotline(request, status=422, errors={"find_id_number": "请输入身份证号"})
    try:
        rows = await service.get_all(cipher=request.app.ctx.cipher, id_number=id_number, limit=50)
    except AppError as exc:
        return await _hotline(request, status=exc.status, errors={"find_id_number": exc.message})
    return await _hotline(request, found=await _shown(request, rows))


@bp.get("/hotline/slots")
@page("hotline")
async def hotline_slots(request: Request):
    """The hotline's places of a hall-day as a slot picker (htmx swaps it in when hall or date change)."""
    args = {k: v[0] for k, v in request.args.items() if v and v[0]}
    try:
        body = parse(SlotsQuery, {"date": args.get("date")})
        data = json.loads(await flows.slots(request.app, principal=request.ctx.principal,
                                            hall_ref=args.get("hall", ""), day=body.date))
    except FormError as exc:
        return render(request, "hotline_slots.html", error=next(iter(exc.errors.values())))
    except AppError as exc:
        return render(request, "hotline_slots.html", error=exc.message)
    return render(request, "hotline_slots.html", slots=data["slots"], REASONS=SLOT_REASONS)


@bp.post("/hotline/book")
@page("hotline")
async def hotline_book(request: Request):
    data = fields(request)
    key = data.pop("idempotency_key", None)
    try:
        body = parse(HotlineBookingCreate, data | {"subscribe": False})
        booking, _ = await flows.book_by_hotline(request.app, staff_id=request.ctx.principal.id, body=body,
                                                 idempotency_key=key)
    except FormError as exc:
        return await _hotline(request, status=422, errors=exc.errors, form=data)
    except AppError as exc:
        return await _hotline(request, status=exc.status, form=data,
                              errors=from_app_error(exc, HOTLINE_FIELDS).errors)
    shown = (await _shown(request, [booking]))[0]
    flash = f"已为来电人预约：{shown['date']} {shown['start']} {shown['hall']['name']}，预约码 {shown['code']}"
    return await _hotline(request, found=[shown], flash=flash)


@bp.post("/hotline/<booking_id:int>/cancel")
@page("hotline")
async def hotline_cancel(request: Request, booking_id: int):
    try:
        booking = await service.get_or_raise(booking_id=booking_id)
        catalog, now = await flows.context(request.app)
        flows.require_hotline_open(catalog, now)
        booking = await service.cancel(ctx=request.app.ctx, catalog=catalog, now=now, booking=booking)
    except AppError as exc:
        return await _hotline(request, status=exc.status, errors={"": exc.message})
    return await _hotline(request, found=await _shown(request, [booking]), flash=f"预约 {booking.code} 已取消")


# ------------------------------------------------------------------ cases

async def _deps(request: Request) -> dict:
    return {"catalog": await catalog_service.get(request.app), "rules": progress.rules_for(request.app.ctx.settings)}


@bp.get("/cases")
@page("reviewer")
async def cases(request: Request):
    """Overdue cases per hall and business type, and a lookup by receipt number."""
    deps = await _deps(request)
    try:
        hall = scope_hall(request, request.args.get("hall") or None)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    data = await progress.overdue(hall=hall, limit=100, **deps)
    return render(request, "cases.html", overdue=data, hall=hall,
                  halls=[h for h in deps["catalog"].halls.values() if h.active])


@bp.post("/cases/lookup")
@page("reviewer", audit=False)
async def case_lookup(request: Request):
    """A case by receipt number, looked up by POST like /api/progress/lookup."""
    receipt_no = (fields(request).get("receipt_no") or "").strip()
    if not receipt_no:
        return redirect("/console/cases")
    return redirect(f"/console/cases/{quote(receipt_no, safe='')}")


@bp.get("/cases/<receipt_no:str>")
@page("reviewer")
async def case_detail(request: Request, receipt_no: str):
    """A case with its applicants and stage history; the read is audited as in the API."""
    try:
        case = await progress.get_or_raise(receipt_no=receipt_no)
    except AppError as exc:
        return render(request, "case.html", status=exc.status, case=None, errors={"": exc.message})
    data = await progress.read(case, cipher=request.app.ctx.cipher, masked=False, **await _deps(request))
    await record_read(request, target_type="case", target_ids=[case.receipt_no], fields=["applicants.name"])
    return render(request, "case.html", case=data)
