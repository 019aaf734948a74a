"""Admin pages: staff accounts, the audit log with filters, and the calendar: days, slot quotas, closures
(`server/operations/closures.py`: the bookings they touch shown before saving, then cancelled for the center
and told), and per hall its hours, Saturday duty, extended hours and business scope (`server/operations/service.py`).

Accounts are changed through the service functions behind /api/staff/accounts/...: name, role, hall,
disable/enable, an admin password reset, revoking sessions and lifting a login lock-out; the changed account
gets the change on its next request, console or API."""

from __future__ import annotations

import json
from datetime import date, timedelta

from pydantic import Field, ValidationError
from sanic import Blueprint, Request
from sanic.response import redirect

from models import DayKind, StaffRole
from server.booking import flows
from server.booking.schemas import SlotQuotaUpdate
from server.catalog import editing
from server.catalog.schemas import CalendarDayCreate
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import ROLE_NAMES, refuse, render
from server.console.session import page
from server.core.errors import AppError
from server.operations import closures
from server.operations import service as operations
from server.operations.schemas import ClosureCreate, HoursUpdate, ScopePause
from server.staff import service as staff_service
from server.staff import views as staff_views
from server.staff.schemas import AuditQuery, PasswordReset, StaffCreate, StaffUpdate

bp = Blueprint("console_admin", url_prefix="/console")


class SlotQuotaForm(SlotQuotaUpdate):
    """The API's slot-quota body plus the path parts the API takes from its URL."""

    hall: str = Field(min_length=1, max_length=32)
    day: date
    start: str = Field(min_length=1, max_length=5)
KIND_NAMES = {"holiday": "法定节假日", "workday": "调休上班", "extra": "加开服务日", "closure": "临时闭厅"}
CALENDAR_FIELDS = {"HALL_NOT_FOUND": "halls", "INVALID_CALENDAR_DAY": "kind", "CALENDAR_CONFLICT": "date",
                   "CALENDAR_EXISTS": "name"}


# ------------------------------------------------------------------ staff and audit

async def _staff(request: Request, *, status: int = 200, **extra):
    catalog, _ = await flows.context(request.app)
    args = {k: v[0] for k, v in request.args.items() if v and v[0]}
    try:
        query = AuditQuery.model_validate({"limit": args.get("limit", 100), "target_type": args.get("target_type")})
    except ValidationError:
        query = AuditQuery()
    audit = await staff_service.audit_entries(limit=query.limit, target_type=query.target_type,
                                              actor_id=args.get("actor_id"), action=args.get("action"),
                                              target_id=args.get("target_id"))
    users = await staff_service.get_all()
    extra.setdefault("form", {})
    return render(request, "staff.html", status=status, users=[staff_service.read(u) for u in users],
                  names={str(u.id): u.display_name for u in users}, audit=audit, filters=args,
                  roles=[(r.value, ROLE_NAMES[r.value]) for r in StaffRole],
                  halls=[h for h in catalog.halls.values() if h.active], **extra)


@bp.get("/staff")
@page("admin")
async def staff(request: Request):
    return await _staff(request)


@bp.post("/staff")
@page("admin")
async def create_staff(request: Request):
    data = fields(request)
    try:
        body = parse(StaffCreate, data)
        await staff_views.check_hall(request, body.hall_code)
        user = await staff_service.create(**body.model_dump())
    except FormError as exc:
        return await _staff(request, status=422, errors=exc.errors, form=data)
    except AppError as exc:
        return await _staff(request, status=exc.status, form=data,
                            errors=from_app_error(exc, {"STAFF_EXISTS": "username",
                                                       "UNKNOWN_HALL": "hall_code"}).errors)
    return await _staff(request, flash=f"已创建账号 {user.username}（{ROLE_NAMES[user.role.value]}）")


async def _account(request: Request, account_id: int, *, status: int = 200, **extra):
    catalog, _ = await flows.context(request.app)
    user = await staff_service.get_or_raise(account_id=account_id)
    audit = await staff_service.audit_entries(limit=30, target_id=str(account_id))
    if not extra.get("form"):
        extra["form"] = staff_service.read(user)
    extra.setdefault("flash", FLASH.get(request.args.get("done", "")))
    return render(request, "staff_account.html", status=status, account=staff_service.read(user), audit=audit,
                  roles=[(r.value, ROLE_NAMES[r.value]) for r in StaffRole], self_id=request.ctx.principal.id,
                  halls=[h for h in catalog.halls.values() if h.active], **extra)


@bp.get("/staff/<account_id:int>")
@page("admin")
async def account(request: Request, account_id: int):
    try:
        return await _account(request, account_id)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)


ACCOUNT_FIELDS = {"STAFF_SELF_CHANGE": "role", "UNKNOWN_HALL": "hall_code"}
FLASH = {"update": "账号信息已保存", "disable": "账号已停用，其所有登录已失效", "enable": "账号已启用",
         "password": "密码已重置，其所有登录已失效，登录锁定已解除", "sessions": "已注销该账号的所有登录",
         "lockout": "已解除登录锁定"}


@bp.post("/staff/<account_id:int>/<action:update|disable|enable|password|sessions|lockout>")
@page("admin")
async def account_action(request: Request, account_id: int, action: str):
    """The account actions of /api/staff/accounts/<id>..., through the same service functions."""
    data = fields(request)
    ctx = request.app.ctx
    try:
        user = await staff_service.get_or_raise(account_id=account_id)
        if action in ("update", "disable", "enable"):
            if action == "update":
                changes = {"display_name": data.get("display_name", ""), "role": data.get("role", ""),
                           "hall_code": data.get("hall_code") or None}
            else:
                changes = {"active": action == "enable"}
            changes = parse(StaffUpdate, changes).model_dump(exclude_unset=True)
            await staff_views.check_hall(request, changes.get("hall_code"))
            await staff_service.update(user=user, actor_id=request.ctx.principal.id, changes=changes)
        elif action == "password":
            body = parse(PasswordReset, {"new_password": data.get("new_password", "")})
            await staff_service.reset_password(user=user, new=body.new_password)
            await staff_service.lift_lockout(redis=ctx.redis, keys=ctx.keys, user=user)
        elif action == "sessions":
            await staff_service.revoke_sessions(user=user)
        else:
            await staff_service.lift_lockout(redis=ctx.redis, keys=ctx.keys, user=user)
    except FormError as exc:
        return await _account(request, account_id, status=422, errors=exc.errors,
                              form=data if action == "update" else None)
    except AppError as exc:
        if exc.code == "STAFF_NOT_FOUND":
            return refuse(request, exc.message, status=exc.status)
        return await _account(request, account_id, status=exc.status,
                              errors=from_app_error(exc, ACCOUNT_FIELDS).errors)
    return redirect(f"/console/staff/{account_id}?done={action}")


# ------------------------------------------------------------------ calendar

async def _slots(request: Request, hall: str, day: date) -> dict:
    """A hall-day's slots with both channels' quotas and places left (the availability the API serves)."""
    try:
        data = json.loads(await flows.slots(request.app, principal=request.ctx.principal, hall_ref=hall, day=day))
    except AppError as exc:
        return {"error": exc.message}
    return {"slots": data["slots"], "hall": data["hall"], "date": data["date"]}


async def _calendar(request: Request, *, status: int = 200, **extra):
    catalog, now = await flows.context(request.app)
    today = now.date()
    days = await editing.get_all_days(start=today - timedelta(days=7), end=today + timedelta(days=120))
    extra.setdefault("form", {})
    shown = extra.get("quota_form") or {k: v[0] for k, v in request.args.items() if v and v[0]}
    if shown.get("hall"):
        try:
            extra["quota_view"] = await _slots(request, shown["hall"], date.fromisoformat(shown.get("day", "")))
        except ValueError:
            extra["quota_view"] = {"error": "日期格式应为 YYYY-MM-DD"}
    extra.setdefault("quota_form", shown)
    return render(request, "calendar.html", status=status, days=[editing.day_read(d) for d in days],
                  halls=[h for h in catalog.halls.values() if h.active], KIND_NAMES=KIND_NAMES,
                  hall_names={h.code: h.name for h in catalog.halls.values()}, today=today, **extra)


def _day_data(request: Request) -> dict:
    data = fields(request, lists=("halls",))
    out = {"date": data.get("date"), "kind": data.get("kind"), "name": data.get("name"),
           "halls": data.get("halls", [])}
    if data.get("session_start") or data.get("session_end"):
        out["sessions"] = [{"start": data.get("session_start", ""), "end": data.get("session_end", "")}]
    return {k: v for k, v in out.items() if v is not None}


async def _preview(request: Request, body) -> dict:
    """The bookings a closure (or a holiday) would cancel, as closures.preview_read counts them."""
    catalog, now = await flows.context(request.app)
    spec = closures.spec(catalog, first=body.date, last=getattr(body, "end_date", None), halls=body.halls,
                         sessions=[x.model_dump() for x in body.sessions] if body.sessions else None,
                         reason=getattr(body, "reason", None) or body.name, today=now.date())
    return closures.preview_read(catalog, await closures.touched(spec))


@bp.get("/calendar")
@page("admin")
async def calendar(request: Request):
    return await _calendar(request)


@bp.post("/calendar")
@page("admin")
async def create_day(request: Request):
    """Add a calendar day; a closure or holiday that touches bookings is shown first and saved on confirm."""
    data = _day_data(request)
    confirmed = fields(request).get("confirm") == "1"
    try:
        body = parse(CalendarDayCreate, data)
        _, now = await flows.context(request.app)
        if body.kind in (DayKind.CLOSURE, DayKind.HOLIDAY) and not confirmed and body.date >= now.date():
            preview = await _preview(request, body)
            if preview["count"]:
                return await _calendar(request, form=data, touched=preview)
        entry = await editing.create_day(request.app, day=body.date, kind=body.kind, name=body.name,
                                         halls=body.halls,
                                         sessions=[s.model_dump() for s in body.sessions] if body.sessions else None)
        cancelled = 0
        if entry.kind in (DayKind.HOLIDAY, DayKind.CLOSURE):  # as POST /api/staff/calendar: cancelled and told
            cancelled = len(await closures.cancel_for_entry(request.app, entry=entry, now=now))
    except FormError as exc:
        return await _calendar(request, status=422, errors=exc.errors, form=data)
    except AppError as exc:
        return await _calendar(request, status=exc.status, form=data,
                               errors=from_app_error(exc, CALENDAR_FIELDS).errors)
    flash = f"已添加：{entry.date} {KIND_NAMES[entry.kind]} {entry.name}"
    return await _calendar(request, flash=flash + (f"，已为中心取消 {cancelled} 个预约并通知市民" if cancelled else ""))


@bp.post("/calendar/<day_id:int>/delete")
@page("admin")
async def delete_day(request: Request, day_id: int):
    try:
        await editing.delete_day(request.app, day_id=day_id)
    except AppError as exc:
        return await _calendar(request, status=exc.status, errors={"": exc.message})
    return redirect("/console/calendar")


@bp.post("/calendar/quota")
@page("admin")
async def slot_quota(request: Request):
    """Set one slot's places (加号 / 减号) like PUT /api/staff/halls/<code>/slots/<day>/<start>."""
    data = fields(request)
    quota_form = {k: data.get(k) for k in ("hall", "day", "start", "quota", "hotline_quota")}
    try:
        body = parse(SlotQuotaForm, {k: v for k, v in quota_form.items() if v is not None})
        result = await flows.set_slot_quota(request.app, hall_code=body.hall, day=body.day, start=body.start,
                                            quota=body.quota, hotline_quota=body.hotline_quota)
    except FormError as exc:
        return await _calendar(request, status=422, errors=exc.errors, quota_form=quota_form)
    except AppError as exc:
        return await _calendar(request, status=exc.status, quota_form=quota_form,
                               errors=from_app_error(exc, {"SLOT_NOT_FOUND": "start", "DATE_PASSED": "day",
                                                           "HALL_NOT_FOUND": "hall"}).errors)
    online, hotline = result["online"]["quota"], result["hotline"]["quota"]
    flash = f"{result['date']} {result['start']} 号源已调整：线上 {online}、电话 {hotline}"
    return await _calendar(request, flash=flash, quota_form={"hall": body.hall, "day": body.day.isoformat()})


# ------------------------------------------------------------------ closures (临时闭厅)

CLOSURE_FIELDS = {"INVALID_DATE_RANGE": "end_date", "DATE_PASSED": "date", "HALL_NOT_FOUND": "halls",
                  "INVALID_SESSION": "session_start"}


def _closure_data(request: Request) -> dict:
    data = fields(request, lists=("halls",))
    out = {"date": data.get("date"), "end_date": data.get("end_date") or None, "halls": data.get("halls", []),
           "reason": data.get("reason", "")}
    if data.get("session_start") or data.get("session_end"):
        out["sessions"] = [{"start": data.get("session_start", ""), "end": data.get("session_end", "")}]
    return out


@bp.post("/calendar/closure")
@page("admin")
async def closure(request: Request):
    """Close halls, days or a session: first the touched bookings (counts per slot), then on confirm save,
    cancel them for the center and tell each citizen (POST /api/staff/closures/preview, then /closures)."""
    data = _closure_data(request)
    confirmed = fields(request).get("confirm") == "1"
    try:
        body = parse(ClosureCreate, data)
        if not confirmed:
            return await _calendar(request, closure_form=data, closure_preview=await _preview(request, body))
        catalog, now = await flows.context(request.app)
        spec = closures.spec(catalog, first=body.date, last=body.end_date, halls=body.halls,
                             sessions=[x.model_dump() for x in body.sessions] if body.sessions else None,
                             reason=body.reason, today=now.date())
        out = await closures.close(request.app, closure=spec, staff_id=request.ctx.principal.id, now=now)
    except FormError as exc:
        return await _calendar(request, status=422, closure_errors=exc.errors, closure_form=data)
    except AppError as exc:
        return await _calendar(request, status=exc.status, closure_form=data,
                               closure_errors=from_app_error(exc, CLOSURE_FIELDS).errors)
    return await _calendar(request, flash=f"已闭厅（{len(out['calendar_ids'])} 天），已为中心取消 {out['cancelled']} 个"
                                          "预约并通知市民")


# ------------------------------------------------------------------ a hall's hours and business scope

HOURS_FIELDS = {"INVALID_SESSION": "weekday", "SESSIONS_REQUIRED": "weekday", "SATURDAY_SESSIONS_REQUIRED": "saturday",
                "SATURDAY_SESSIONS_FORBIDDEN": "saturday", "SATURDAY_BOOKING_ONLY_INVALID": "saturday_booking_only",
                "INVALID_EXTENDED": "ext_kind", "INVALID_DATE_RANGE": "ext_until"}


def _periods_text(periods) -> str:
    return "、".join(f"{a.strftime('%H:%M')}-{b.strftime('%H:%M')}" for a, b in periods)


def _periods(text: str) -> list[dict]:
    """"09:00-12:00、13:30-17:00" (any of ，,、; as separators, – or ~ for the dash) as Session bodies."""
    out = []
    for part in text.replace("，", ",").replace("、", ",").replace(";", ",").split(","):
        if part.strip():
            start, _, end = part.strip().replace("–", "-").replace("~", "-").replace("～", "-").partition("-")
            out.append({"start": start.strip(), "end": end.strip()})
    return out


async def _hall_page(request: Request, code: str, *, status: int = 200, **extra):
    catalog, _ = await flows.context(request.app)
    hall = catalog.hall(code)
    extra.setdefault("form", {
        "weekday": _periods_text(hall.weekday), "saturday": _periods_text(hall.saturday),
        "saturday_duty": hall.saturday_duty, "saturday_booking_only": hall.saturday_booking_only,
        **({"ext_kind": e.kind, "ext_start": e.period[0].strftime("%H:%M"), "ext_end": e.period[1].strftime("%H:%M"),
            "ext_from": e.first.isoformat() if e.first else "", "ext_until": e.last.isoformat() if e.last else ""}
           if (e := next(iter(hall.extended), None)) else {})})
    extra.setdefault("flash", {"hours": "服务时间已保存", "pause": "已暂停该业务", "resume": "已恢复该业务"}.get(
        request.args.get("done", "")))
    return render(request, "hall_settings.html", status=status, hall=hall,
                  scope=operations.scope_read(catalog, hall.code), **extra)


@bp.get("/calendar/halls/<code>")
@page("admin")
async def hall_settings(request: Request, code: str):
    try:
        return await _hall_page(request, code)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)


@bp.post("/calendar/halls/<code>/hours")
@page("admin")
async def hall_hours(request: Request, code: str):
    """Hours, Saturday duty and extended hours (PUT /api/staff/halls/<code>/hours' service)."""
    data = fields(request)
    body = {"weekday": _periods(data.get("weekday", "")), "saturday": _periods(data.get("saturday", "")),
            "saturday_duty": data.get("saturday_duty") == "1",
            "saturday_booking_only": data.get("saturday_booking_only") == "1", "extended": []}
    if data.get("ext_kind"):
        body["extended"] = [{"kind": data["ext_kind"], "start": data.get("ext_start", ""),
                             "end": data.get("ext_end", ""), "from": data.get("ext_from") or None,
                             "until": data.get("ext_until") or None}]
    form = data | {"saturday_duty": body["saturday_duty"], "saturday_booking_only": body["saturday_booking_only"]}
    try:
        changes = parse(HoursUpdate, body).changes()
        _, now = await flows.context(request.app)
        out = await operations.update_hours(request.app, code=code, changes=changes, now=now)
    except FormError as exc:
        names = {"extended": "ext_kind"}
        errors = {names.get(k.split(".")[0], k.split(".")[0]): v for k, v in exc.errors.items()}
        return await _hall_page(request, code, status=422, errors=errors, form=form)
    except AppError as exc:
        if exc.code == "HALL_NOT_FOUND":
            return refuse(request, exc.message, status=exc.status)
        return await _hall_page(request, code, status=exc.status, form=form,
                                errors=from_app_error(exc, HOURS_FIELDS).errors)
    if out.get("cancelled_bookings"):
        return await _hall_page(request, code, flash=f"服务时间已保存；被移出服务时段的 {out['cancelled_bookings']} 个"
                                                     "预约已为中心取消并通知市民")
    return redirect(f"/console/calendar/halls/{code}?done=hours")


@bp.post("/calendar/halls/<code>/scope/<business_type>/<action:pause|resume>")
@page("admin")
async def hall_scope(request: Request, code: str, business_type: str, action: str):
    """Pause (with a reason) or resume a business type at this hall (PUT/DELETE /api/staff/halls/<code>/scope/...)."""
    data = fields(request)
    try:
        if action == "pause":
            try:
                body = parse(ScopePause, {"reason": data.get("reason", "")})
            except FormError as exc:
                raise FormError({f"reason-{business_type}": next(iter(exc.errors.values()))}) from exc
            await operations.pause(request.app, hall_code=code, business_type=business_type, reason=body.reason,
                                   staff_id=request.ctx.principal.id)
        else:
            await operations.resume(request.app, hall_code=code, business_type=business_type)
    except FormError as exc:
        return await _hall_page(request, code, status=422, errors=exc.errors)
    except AppError as exc:
        if exc.code == "HALL_NOT_FOUND":
            return refuse(request, exc.message, status=exc.status)
        return await _hall_page(request, code, status=exc.status, errors={"": exc.message})
    return redirect(f"/console/calendar/halls/{code}?done={action}")
