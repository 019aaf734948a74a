"""The citizen's pages of the public account under /h5/: booking, my bookings, progress, notices, guide.

Server-rendered (Jinja2, WeUI styles served locally); every page works as plain HTML forms. Handlers parse
the request, call the same service functions as the JSON API and render; a refusal is shown in Chinese next
to the field that caused it.
"""

from __future__ import annotations

import datetime as dt
import secrets

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sanic import Blueprint, Request
from sanic.response import redirect

from models import Citizen
from notices import service as notices_service
from server.booking import flows as booking_flows
from server.booking import messaging as booking_messaging
from server.booking import service as booking_service
from server.booking.schemas import BookingCreate, BookingReschedule, Start
from server.catalog import service as catalog_service
from server.core.auth import CITIZEN_COOKIE, principal_for_token
from server.core.errors import AppError, NotFound
from server.h5 import flows, web
from server.h5.web import page, render
from server.identity import verification
from server.progress import flows as progress_flows
from server.progress import service as progress_service
from server.progress.schemas import LookupQuery

bp = Blueprint("h5", url_prefix=web.PREFIX)

ACTIVE = {s.value for s in booking_service.ACTIVE}
# Which form field a refusal of the booking service belongs to (anything else shows above the button).
CONFIRM_FIELDS = {
    "SLOT_FULL": "start", "TOO_LATE": "start", "NOT_RELEASED": "start", "SLOT_NOT_FOUND": "start",
    "INVALID_TIME": "start", "HALL_CLOSED": "date", "DATE_PASSED": "date", "DATE_OUTSIDE_WINDOW": "date",
    "NOT_BOUND": "binding", "CREDIT_CODE_FORMAT": "agent_credit_code", "CREDIT_CODE_CHECKSUM": "agent_credit_code",
    "HALL_NOT_FOUND": "hall", "BUSINESS_TYPE_NOT_FOUND": "business_type",
}


class Step(BaseModel):
    """The choices carried from one booking step to the next in the query string."""

    model_config = ConfigDict(extra="ignore")
    bt: str | None = Field(default=None, max_length=64)
    hall: str | None = Field(default=None, max_length=32)
    date: dt.date | None = None
    start: Start | None = None
    rb: int | None = Field(default=None, ge=1, le=2**62)  # the booking being rescheduled


def _step(request: Request) -> Step:
    return Step.model_validate({k: v[0] for k, v in request.args.items()})


def _cid(request: Request) -> int:
    return request.ctx.citizen.id


@bp.exception(AppError, ValidationError)
async def problem(request: Request, exc: Exception):
    """A refusal no form field caused (a wrong link, someone else's booking): a page that says so."""
    return render(request, "message.html", status=web.error_status(exc), title="无法完成", icon="warn",
                  message=next(iter(web.field_errors(exc).values())))


@bp.get("/static/<name:path>")
async def static(request: Request, name: str):
    return web.static_response(request, name)


@bp.get("/")
@page()
async def home(request: Request):
    return render(request, "home.html", title="不动产登记服务", citizen=request.ctx.citizen)


# ------------------------------------------------------------------ development sign-in


@bp.route("/dev/login", methods=["GET", "POST"])
@page()
async def dev_login(request: Request):
    """Development only: sign the browser in with a citizen's bearer token (`dengji dev citizen` prints one)."""
    if not _dev_enabled(request):
        raise NotFound("页面不存在")
    next_url = web.safe_next(request.args.get("next") or (request.form or {}).get("next"))
    if request.method == "GET":
        return render(request, "dev_login.html", title="开发登录", next=next_url)
    if not web.check_csrf(request):
        return render(request, "dev_login.html", status=403, title="开发登录", next=next_url,
                      errors={"form": "页面已过期，请刷新后重试"})
    token = web.form(request).get("token", "")
    principal = await principal_for_token(request.app, token) if token else None
    if principal is None or principal.kind != "citizen":
        return render(request, "dev_login.html", status=401, title="开发登录", next=next_url,
                      errors={"token": "令牌无效或已过期，请重新获取市民令牌"})
    response = redirect(next_url, status=303)
    response.add_cookie(CITIZEN_COOKIE, token, path="/", httponly=True, samesite="Lax",
                        secure=request.scheme == "https", max_age=request.app.ctx.settings.citizen_session_ttl_seconds)
    return response


def _dev_enabled(request: Request) -> bool:
    return request.app.ctx.settings.env != "production"


# ------------------------------------------------------------------ 预约办事


@bp.get("/booking")
@page()
async def booking_types(request: Request):
    return render(request, "booking_types.html", title="预约办事", items=await flows.business_types(request.app))


@bp.get("/booking/halls")
@page()
async def booking_halls(request: Request):
    step = _step(request)
    try:
        choice = await flows.booking_choice(request.app, business_type=step.bt or "")
    except AppError as exc:
        if exc.code not in ("BOOKING_NOT_NEEDED", "ONLINE_ONLY"):
            raise
        bt = await flows.business_type(request.app, code=step.bt or "")
        return render(request, "booking_not_needed.html", title=bt["name"], bt=bt, message=exc.message,
                      online=exc.code == "ONLINE_ONLY", halls=await flows.halls(request.app))
    return render(request, "booking_halls.html", title="选择大厅", step=step, **choice,
                  halls=await flows.halls(request.app))


async def _chosen(request: Request, step: Step | None = None) -> tuple[Step, dict]:
    """The steps so far and the business type and hall they chose (refused as the booking service refuses)."""
    step = step or _step(request)
    return step, await flows.booking_choice(request.app, business_type=step.bt or "", hall=step.hall or "")


@bp.get("/booking/days")
@page()
async def booking_days(request: Request):
    step, choice = await _chosen(request)
    return render(request, "booking_days.html", title="选择日期", step=step, **choice,
                  days=await flows.booking_days(request.app, hall=choice["hall"]["code"]),
                  rules=await flows.booking_rules(request.app))


@bp.get("/booking/slots")
@page()
async def booking_slots(request: Request):
    step, choice = await _chosen(request)
    day = step.date or dt.date.min
    return render(request, "booking_slots.html", title="选择时段", step=step, **choice, weekday=flows.weekday(day),
                  data=await flows.slots(request.app, hall=choice["hall"]["code"], day=day))


async def _confirm_page(request: Request, step: Step, *, errors: dict | None = None, status: int = 200,
                        values: dict | None = None):
    step, choice = await _chosen(request, step)
    try:
        data = await flows.slots(request.app, hall=choice["hall"]["code"], day=step.date or dt.date.min)
        slot = next((s for s in data["slots"] if s["start"] == step.start), None)
    except AppError as exc:  # a day outside the window: said next to the date
        slot, errors = None, {"date": exc.message} | (errors or {})
    replaces = None
    if step.rb:
        replaces = await booking_flows.my_booking(request.app, citizen_id=_cid(request), booking_id=step.rb)
    me = await flows.me(request.app, citizen_id=_cid(request))
    reminder = await _reminder_channel(request)
    return render(request, "booking_confirm.html", status=status, title="确认预约", step=step, **choice, slot=slot,
                  reminder=reminder,
                  weekday=flows.weekday(step.date or dt.date.min), me=me, rules=await flows.booking_rules(request.app),
                  replaces=replaces, errors=errors or {},
                  values=values or {}, idem=secrets.token_urlsafe(16))


@bp.get("/booking/confirm")
@page(login=True)
async def booking_confirm(request: Request):
    return await _confirm_page(request, _step(request))


@bp.post("/booking/confirm")
@page(login=True, post=True)
async def booking_submit(request: Request):
    data = web.form(request)
    step = Step.model_validate(data)
    fields = {"hall": data.get("hall"), "business_type": data.get("bt"), "date": data.get("date"),
              "start": data.get("start"), "agent_credit_code": data.get("agent_credit_code") or None,
              "subscribe": data.get("subscribe") == "1"}
    try:
        if step.rb:
            result = await booking_flows.reschedule_mine(request.app, citizen_id=_cid(request), booking_id=step.rb,
                                                         body=BookingReschedule.model_validate(fields))
        else:
            result, _ = await booking_flows.book_online(request.app, citizen_id=_cid(request),
                                                        body=BookingCreate.model_validate(fields),
                                                        idempotency_key=data.get("idem"))
    except (AppError, ValidationError) as exc:
        return await _confirm_page(request, step, errors=web.field_errors(exc, CONFIRM_FIELDS),
                                   status=web.error_status(exc), values=data)
    return redirect(f"{web.PREFIX}/bookings/{result['id']}?done={'moved' if step.rb else 'booked'}", status=303)


# ------------------------------------------------------------------ 我的预约


@bp.get("/bookings")
@page(login=True)
async def my_bookings(request: Request):
    items = await booking_flows.my_bookings(request.app, citizen_id=_cid(request))
    return render(request, "bookings.html", title="我的预约", items=items, active=ACTIVE)


async def _reminder_channel(request: Request) -> str | None:
    """How the day-before reminder can reach the signed-in person (None: the page says so, offers nothing)."""
    return await booking_messaging.reminder_channel(request.app, await Citizen.get(id=_cid(request)))


async def _booking_page(request: Request, booking_id: int, *, errors: dict | None = None, status: int = 200):
    booking = await booking_flows.my_booking(request.app, citizen_id=_cid(request), booking_id=booking_id)
    reminder = await _reminder_channel(request) if booking["status"] in ACTIVE else None
    return render(request, "booking_detail.html", status=status, title="预约详情", b=booking, reminder=reminder,
                  active=booking["status"] in ACTIVE, qr=flows.qr_svg(booking["qr"]), done=request.args.get("done"),
                  rules=await flows.booking_rules(request.app), errors=errors or {})


@bp.get("/bookings/<booking_id:int>")
@page(login=True)
async def booking_detail(request: Request, booking_id: int):
    return await _booking_page(request, booking_id)


@bp.post("/bookings/<booking_id:int>/cancel")
@page(login=True, post=True)
async def booking_cancel(request: Request, booking_id: int):
    try:
        await booking_flows.cancel_mine(request.app, citizen_id=_cid(request), booking_id=booking_id)
    except AppError as exc:
        return await _booking_page(request, booking_id, errors={"cancel": exc.message}, status=exc.status)
    return redirect(f"{web.PREFIX}/bookings/{booking_id}?done=cancelled", status=303)


@bp.post("/bookings/<booking_id:int>/reminder")
@page(login=True, post=True)
async def booking_reminder(request: Request, booking_id: int):
    on = web.form(request).get("subscribe") == "1"
    try:
        await booking_flows.remind_mine(request.app, citizen_id=_cid(request), booking_id=booking_id, subscribe=on)
    except AppError as exc:
        return await _booking_page(request, booking_id, errors={"reminder": exc.message}, status=exc.status)
    return redirect(f"{web.PREFIX}/bookings/{booking_id}?done={'reminder' if on else 'no-reminder'}", status=303)


@bp.get("/bookings/<booking_id:int>/reschedule")
@page(login=True)
async def booking_reschedule(request: Request, booking_id: int):
    b = await booking_flows.my_booking(request.app, citizen_id=_cid(request), booking_id=booking_id)
    return redirect(f"{web.PREFIX}/booking/days?bt={b['business_type']['code']}&hall={b['hall']['code']}"
                    f"&rb={b['id']}", status=303)


# ------------------------------------------------------------------ 进度查询


async def _deps(request: Request) -> dict:
    return {"cipher": request.app.ctx.cipher, "catalog": await catalog_service.get(request.app),
            "rules": progress_service.rules_for(request.app.ctx.settings)}


@bp.get("/progress")
@page()
async def progress(request: Request):
    return render(request, "progress.html", title="进度查询", citizen=request.ctx.citizen, values={})


@bp.post("/progress")
@page(post=True)
async def progress_lookup(request: Request):
    """Anyone may look a case up; the ID tail travels in the form body only, never in a URL."""
    data = web.form(request)
    citizen = request.ctx.citizen
    try:
        query = LookupQuery.model_validate({"receipt_no": data.get("receipt_no", ""),
                                            "id_last6": data.get("id_last6", "")})
        case = await progress_service.lookup(redis=request.app.ctx.redis, keys=request.app.ctx.keys,
                                             **await _deps(request), receipt_no=query.receipt_no,
                                             id_last6=query.id_last6, ip=request.remote_addr or request.ip,
                                             user_id=citizen.id if citizen else None)
    except (AppError, ValidationError) as exc:
        return render(request, "progress.html", status=web.error_status(exc), title="进度查询", citizen=citizen,
                      values={"receipt_no": data.get("receipt_no", "")}, errors=web.field_errors(exc))
    return render(request, "case.html", title="办件进度", case=case)


@bp.get("/cases")
@page(login=True)
async def my_cases(request: Request):
    try:
        items = await progress_service.get_all_for_citizen(citizen_id=_cid(request), **await _deps(request))
    except AppError as exc:
        if exc.code != "REAL_NAME_REQUIRED":
            raise
        return render(request, "cases.html", status=exc.status, title="我的案件", items=None, message=exc.message)
    return render(request, "cases.html", title="我的案件", items=items)


@bp.get("/cases/<receipt_no:str>")
@page(login=True)
async def my_case(request: Request, receipt_no: str):
    return await _case_page(request, receipt_no)


async def _case_page(request: Request, receipt_no: str, *, errors: dict | None = None, status: int = 200):
    case = await progress_service.get_for_citizen(citizen_id=_cid(request), receipt_no=receipt_no,
                                                  **await _deps(request))
    # "有进展时通过公众号通知我": the stage push reaches a person without the mini-program by a template message.
    updates = {"on": await progress_service.subscribed(citizen_id=_cid(request), receipt_no=receipt_no),
               "channel": await _reminder_channel(request)}
    return render(request, "case.html", status=status, title="办件进度", case=case, updates=updates,
                  done=request.args.get("done"), errors=errors or {})


@bp.post("/cases/<receipt_no:str>/updates")
@page(login=True, post=True)
async def case_updates(request: Request, receipt_no: str):
    """Record (or withdraw) the wish to hear of this case's stage changes (per case, the mini-program's consent)."""
    on = web.form(request).get("notify") == "1"
    try:
        await progress_flows.stage_updates(request.app, citizen_id=_cid(request), receipt_no=receipt_no, on=on)
    except AppError as exc:
        if exc.code != "UPDATES_UNREACHABLE":
            raise
        return await _case_page(request, receipt_no, errors={"updates": exc.message}, status=exc.status)
    return redirect(f"{web.PREFIX}/cases/{receipt_no}?done={'updates' if on else 'no-updates'}", status=303)


# ------------------------------------------------------------------ 通知


@bp.get("/inbox")
@page(login=True)
async def inbox(request: Request):
    data = await notices_service.get_inbox(openids=await flows.openids(request.ctx.citizen), limit=50, offset=0)
    return render(request, "inbox.html", title="通知", data=data)


@bp.get("/inbox/<delivery_id:int>")
@page(login=True)
async def inbox_item(request: Request, delivery_id: int):
    item = await notices_service.open_inbox_item(openids=await flows.openids(request.ctx.citizen),
                                                 delivery_id=delivery_id)
    return render(request, "notice.html", title=item["title"], item=item)


# ------------------------------------------------------------------ 办事指南


@bp.get("/guide")
@page()
async def guide(request: Request):
    categories = await flows.guide(request.app)
    chosen = request.args.get("c")
    return render(request, "guide.html", title="办事指南", categories=categories, chosen=chosen,
                  entries=categories.get(chosen or "", []))


@bp.get("/guide/ask")
@page()
async def guide_ask(request: Request):
    """Ask the bot; a plain GET form, so the question can be shared and asked again."""
    question = (request.args.get("q") or "").strip()
    if not question:
        return render(request, "guide_answer.html", title="智能问答", q="", reply=None,
                      errors={"q": "请输入您想咨询的问题"}, status=422)
    user = flows.chat_user(request.ctx.citizen, web.csrf_token(request))
    reply = await flows.ask(request.app, user_id=user, question=question[:500])
    return render(request, "guide_answer.html", title="智能问答", q=question, reply=reply)


# ------------------------------------------------------------------ 实名绑定


# Which form field a refusal of the counter-code binding belongs to: all of them are about the code entered.
BINDING_FIELDS = {"BINDING_CODE_INVALID": "code", "BINDING_CODE_LIMIT": "code", "ALREADY_BOUND": "code",
                  "CITIZEN_NOT_FOUND": "code"}


@bp.get("/binding")
@page(login=True)
async def binding(request: Request):
    return render(request, "binding.html", title="实名认证", me=await flows.me(request.app, citizen_id=_cid(request)),
                  next=web.safe_next(request.args.get("next")))


@bp.post("/binding/code")
@page(login=True, post=True)
async def binding_code(request: Request):
    """Bind with the one-time code hall staff issued after checking the ID card (the identity service's rules)."""
    data = web.form(request)
    next_url = web.safe_next(data.get("next"))
    try:
        await verification.bind_with_counter_code(request.app, citizen_id=_cid(request),
                                                  binding_code=data.get("code", ""))
    except AppError as exc:
        return render(request, "binding.html", status=exc.status, title="实名认证",
                      me=await flows.me(request.app, citizen_id=_cid(request)), next=next_url,
                      errors=web.field_errors(exc, BINDING_FIELDS))
    return redirect(next_url, status=303)
