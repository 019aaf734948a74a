"""Notices (publisher, reviewer): compose with the live reach preview, submit, review, schedule, withdraw,
and the delivery report with its chart and CSV."""

from __future__ import annotations

from datetime import datetime

from sanic import Blueprint, Request
from sanic.response import raw, redirect

from models import NoticeAudience, OrgType
from notices import service
from notices.config import load_config
from notices.schemas import NoticeCreate, NoticeReview, NoticeSubmit, TargetPreview
from server.booking import flows
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import render
from server.console.session import page
from server.core.errors import AppError

bp = Blueprint("console_notices", url_prefix="/console/notices")
LISTS = ("types", "districts", "business_lines", "tags", "halls")
STATUS_NAMES = {"draft": "草稿", "pending_review": "待审核", "approved": "已通过", "scheduled": "定时发送",
                "sending": "发送中", "sent": "已发送", "withdrawn": "已撤回", "rejected": "已驳回"}
NOTICE_FIELDS = {"UNKNOWN_CATEGORY": "category", "TARGET_EMPTY": "target", "TARGET_INVALID": "target",
                 "UNKNOWN_HALL": "target", "SCHEDULE_TOO_FAR": "scheduled_at"}


def _split(values: list[str]) -> list[str]:
    """Districts, lines and tags may be typed comma-separated in one box."""
    return [p.strip() for v in values for p in v.replace("，", ",").replace("、", ",").split(",") if p.strip()]


def _notice_data(request: Request) -> dict:
    """The compose form as the API's NoticeCreate body."""
    data = fields(request, lists=LISTS)
    target: dict = {"all": data.pop("all", "") == "1"}
    for name in LISTS:
        values = data.pop(name, [])
        target[name] = values if name in ("types", "halls") else _split(values)
    return {"title": data.get("title", ""), "body": data.get("body", ""), "category": data.get("category", ""),
            "audience": data.get("audience", "orgs"), "target": target}


async def _compose(request: Request, *, status: int = 200, **extra):
    catalog, _ = await flows.context(request.app)
    categories = load_config(request.app.ctx.settings).categories
    return render(request, "notice_compose.html", status=status, categories=categories,
                  org_types=[(t.value, service.ORG_TYPE_NAMES[t]) for t in OrgType],
                  halls=[h for h in catalog.halls.values() if h.active], **extra)


@bp.get("/")
@page("publisher", "reviewer")
async def index(request: Request):
    wanted = request.args.get("status") or None
    notices = await service.get_all_notices(status=wanted if wanted in STATUS_NAMES else None, limit=100, offset=0)
    return render(request, "notices.html", notices=notices, wanted=wanted, STATUS_NAMES=STATUS_NAMES)


@bp.get("/new")
@page("publisher")
async def compose(request: Request):
    return await _compose(request, form={"audience": "orgs", "target": {}})


@bp.post("/preview")
@page("publisher", "reviewer")
async def preview(request: Request):
    """The reach of the target being composed (an htmx fragment, refreshed as the form changes)."""
    data = _notice_data(request)
    try:
        body = parse(TargetPreview, {"audience": data["audience"], "target": data["target"]})
        reach = await service.preview(audience=body.audience, target=body.target.model_dump(mode="json"))
    except FormError as exc:
        return render(request, "notice_reach.html", error=next(iter(exc.errors.values())))
    except AppError as exc:
        return render(request, "notice_reach.html", error=exc.message)
    return render(request, "notice_reach.html", reach=reach, public=body.audience == NoticeAudience.PUBLIC)


@bp.post("/new")
@page("publisher")
async def create(request: Request):
    data = _notice_data(request)
    cfg = load_config(request.app.ctx.settings)
    try:
        body = parse(NoticeCreate, data).model_dump(mode="json")
        notice = await service.create_notice(cfg=cfg, staff_id=request.ctx.principal.id, **body)
    except FormError as exc:
        return await _compose(request, status=422, errors=exc.errors, form=data)
    except AppError as exc:
        return await _compose(request, status=exc.status, form=data,
                              errors=from_app_error(exc, NOTICE_FIELDS).errors)
    return redirect(f"/console/notices/{notice.id}")


async def _detail(request: Request, notice_id: int, *, status: int = 200, **extra):
    cfg = load_config(request.app.ctx.settings)
    notice = await service.get_notice_or_raise(notice_id=notice_id)
    report = await service.report(notice_id=notice_id)
    return render(request, "notice_detail.html", status=status, notice=service.notice_read(notice, cfg),
                  report=report, STATUS_NAMES=STATUS_NAMES, **extra)


@bp.get("/<notice_id:int>")
@page("publisher", "reviewer")
async def detail(request: Request, notice_id: int):
    return await _detail(request, notice_id)


def _scheduled_at(value: str | None, tz) -> str | None:
    """A datetime-local input is the center's local time: give it the center's zone, as the API asks."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=tz).isoformat()
    except ValueError as exc:
        raise FormError({"scheduled_at": "时间格式有误"}) from exc


@bp.post("/<notice_id:int>/<action:submit|review|withdraw>")
@page("publisher", "reviewer")
async def act(request: Request, notice_id: int, action: str):
    data = fields(request)
    principal = request.ctx.principal
    needs = {"submit": "publisher", "withdraw": "publisher", "review": "reviewer"}[action]
    if principal.role not in (needs, "admin"):
        return await _detail(request, notice_id, status=403, errors={"": "当前账号角色无权执行此操作"})
    try:
        if action == "submit":
            catalog, _ = await flows.context(request.app)
            body = parse(NoticeSubmit, {"scheduled_at": _scheduled_at(data.get("scheduled_at"), catalog.tz)})
            await service.submit(cfg=load_config(request.app.ctx.settings), jobs=request.app.ctx.jobs,
                                 notice_id=notice_id, scheduled_at=body.scheduled_at, staff_id=principal.id,
                                 is_admin=principal.role == "admin")
        elif action == "review":
            try:
                body = parse(NoticeReview, {"decision": data.get("decision", ""), "comment": data.get("comment")})
            except FormError as exc:  # the reason rule is the model's own: show it by the comment box
                raise FormError({"comment": next(iter(exc.errors.values()))}) from exc
            await service.review(jobs=request.app.ctx.jobs, notice_id=notice_id, reviewer_id=principal.id,
                                 **body.model_dump())
        else:
            await service.withdraw(notice_id=notice_id, staff_id=principal.id, is_admin=principal.role == "admin")
    except FormError as exc:
        return await _detail(request, notice_id, status=422, errors=exc.errors)
    except AppError as exc:
        return await _detail(request, notice_id, status=exc.status,
                             errors=from_app_error(exc, NOTICE_FIELDS).errors)
    return redirect(f"/console/notices/{notice_id}")


@bp.get("/<notice_id:int>/report.csv")
@page("publisher", "reviewer")
async def report_csv(request: Request, notice_id: int):
    body = await service.report_csv(notice_id=notice_id)
    return raw(body, content_type="text/csv; charset=utf-8",
               headers={"content-disposition": f'attachment; filename="notice-{notice_id}-report.csv"'})
