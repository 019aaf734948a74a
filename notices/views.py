"""Notices routes: staff manage organisations and notices; mini-program users join, read, subscribe."""

from sanic import Blueprint, Request
from sanic.response import json, raw

from notices import service
from notices.config import Category, load_config
from notices.schemas import (
    InboxQuery,
    InvitationCreate,
    JoinCreate,
    LeaveCreate,
    NoticeCreate,
    NoticeQuery,
    NoticeReview,
    NoticeSubmit,
    NoticeUpdate,
    OrgCreate,
    OrgQuery,
    OrgUpdate,
    SubscriptionCreate,
    TargetPreview,
)
from server.core.auth import require_citizen, require_staff
from server.core.openapi import responds
from server.core.responses import (
    HallSubscriptionsRead,
    Items,
    MpInboxDeliveryIdReadPostRead,
    MpInboxRead,
    MpOrgJoinPostRead,
    MpOrgMembershipsRead,
    MpOrgOrgIdInvitationsPostRead,
    NoticeRead,
    NoticeReportRead,
    OkRead,
    OrgRead,
    StaffNoticesPreviewPostRead,
    StaffOrgsOrgIdMembersRead,
    StaffOrgsPostRead,
    StaffOrgsRead,
)
from server.core.validation import parse_body, parse_query
from server.identity import service as identity

staff = Blueprint("notices_staff", url_prefix="/api/staff")
mp = Blueprint("notices_mp", url_prefix="/api/mp")
bp = Blueprint.group(staff, mp)


def _cfg(request: Request):
    return load_config(request.app.ctx.settings)


async def setup(app) -> None:
    """Validate the notices configuration at start-up so a bad file fails loudly, not mid-send."""
    load_config(app.ctx.settings)


# ------------------------------------------------------------------ organisations

@staff.post("/orgs")
@require_staff("admin")
@responds(StaffOrgsPostRead)
async def create_org(request: Request):
    org = await service.create_org(**parse_body(request, OrgCreate).model_dump())
    return json(service.org_read(org, 0), status=201)


@staff.get("/orgs")
@require_staff("publisher", "reviewer")
@responds(StaffOrgsRead)
async def list_orgs(request: Request):
    return json({"items": await service.get_all_orgs(**parse_query(request, OrgQuery).model_dump())})


@staff.get("/orgs/<org_id:int>")
@require_staff("publisher", "reviewer")
@responds(OrgRead)
async def get_org(request: Request, org_id: int):
    return json(service.org_read(await service.get_org_or_raise(org_id=org_id)))


@staff.patch("/orgs/<org_id:int>")
@require_staff("admin")
@responds(OrgRead)
async def update_org(request: Request, org_id: int):
    org = await service.update_org(org_id=org_id, **parse_body(request, OrgUpdate).model_dump())
    return json(service.org_read(org))


@staff.delete("/orgs/<org_id:int>")
@require_staff("admin")
@responds(OkRead)
async def delete_org(request: Request, org_id: int):
    await service.delete_org(org_id=org_id)
    return json({"ok": True})


@staff.post("/orgs/<org_id:int>/invitations")
@require_staff("admin")
@responds(MpOrgOrgIdInvitationsPostRead)
async def create_invitation(request: Request, org_id: int):
    body = parse_body(request, InvitationCreate)
    return json(await service.create_invitation(cfg=_cfg(request), org_id=org_id, staff_id=request.ctx.principal.id,
                                                **body.model_dump()), status=201)


@staff.get("/orgs/<org_id:int>/members")
@require_staff("admin")
@responds(StaffOrgsOrgIdMembersRead)
async def list_members(request: Request, org_id: int):
    return json({"items": await service.get_members(org_id=org_id)})


@staff.delete("/orgs/<org_id:int>/members/<member_id:int>")
@require_staff("admin")
@responds(OkRead)
async def remove_member(request: Request, org_id: int, member_id: int):
    await service.remove_member(org_id=org_id, member_id=member_id)
    return json({"ok": True})


# ------------------------------------------------------------------------ notices


def _author(request: Request) -> dict:
    p = request.ctx.principal
    return {"staff_id": p.id, "is_admin": p.role == "admin"}

@staff.get("/notices/categories")
@require_staff("publisher", "reviewer")
@responds(Items[Category])
async def list_categories(request: Request):
    return json({"items": service.categories(_cfg(request))})


@staff.post("/notices/preview")
@require_staff("publisher", "reviewer")
@responds(StaffNoticesPreviewPostRead)
async def preview(request: Request):
    body = parse_body(request, TargetPreview)
    return json(await service.preview(audience=body.audience, target=body.target.model_dump(mode="json")))


@staff.post("/notices")
@require_staff("publisher")
@responds(NoticeRead)
async def create_notice(request: Request):
    body = parse_body(request, NoticeCreate).model_dump(mode="json")
    notice = await service.create_notice(cfg=_cfg(request), staff_id=request.ctx.principal.id, **body)
    return json(service.notice_read(notice, _cfg(request)), status=201)


@staff.get("/notices")
@require_staff("publisher", "reviewer")
@responds(Items[NoticeRead])
async def list_notices(request: Request):
    notices = await service.get_all_notices(**parse_query(request, NoticeQuery).model_dump())
    return json({"items": [service.notice_read(n, _cfg(request)) for n in notices]})


@staff.get("/notices/<notice_id:int>")
@require_staff("publisher", "reviewer")
@responds(NoticeRead)
async def get_notice(request: Request, notice_id: int):
    return json(service.notice_read(await service.get_notice_or_raise(notice_id=notice_id), _cfg(request)))


@staff.patch("/notices/<notice_id:int>")
@require_staff("publisher")
@responds(NoticeRead)
async def update_notice(request: Request, notice_id: int):
    body = parse_body(request, NoticeUpdate).model_dump(mode="json", exclude_none=True)
    notice = await service.update_notice(cfg=_cfg(request), notice_id=notice_id, **_author(request), **body)
    return json(service.notice_read(notice, _cfg(request)))


@staff.post("/notices/<notice_id:int>/submit")
@require_staff("publisher")
@responds(NoticeRead)
async def submit_notice(request: Request, notice_id: int):
    body = parse_body(request, NoticeSubmit)
    notice = await service.submit(cfg=_cfg(request), jobs=request.app.ctx.jobs, notice_id=notice_id,
                                  scheduled_at=body.scheduled_at, **_author(request))
    return json(service.notice_read(notice, _cfg(request)))


@staff.post("/notices/<notice_id:int>/review")
@require_staff("reviewer")
@responds(NoticeRead)
async def review_notice(request: Request, notice_id: int):
    body = parse_body(request, NoticeReview)
    notice = await service.review(jobs=request.app.ctx.jobs, notice_id=notice_id,
                                  reviewer_id=request.ctx.principal.id, **body.model_dump())
    return json(service.notice_read(notice, _cfg(request)))


@staff.post("/notices/<notice_id:int>/withdraw")
@require_staff("publisher")
@responds(NoticeRead)
async def withdraw_notice(request: Request, notice_id: int):
    notice = await service.withdraw(notice_id=notice_id, **_author(request))
    return json(service.notice_read(notice, _cfg(request)))


@staff.get("/notices/<notice_id:int>/report")
@require_staff("publisher", "reviewer")
@responds(NoticeReportRead)
async def notice_report(request: Request, notice_id: int):
    return json(await service.report(notice_id=notice_id))


@staff.get("/notices/<notice_id:int>/report.csv")
@require_staff("publisher", "reviewer")
@responds(content_type="text/csv")
async def notice_report_csv(request: Request, notice_id: int):
    body = await service.report_csv(notice_id=notice_id)
    return raw(body, content_type="text/csv; charset=utf-8",
               headers={"content-disposition": f'attachment; filename="notice-{notice_id}-report.csv"'})


# ------------------------------------------------------------- mini-program side

async def _openids(request: Request) -> list[str]:
    """Every openid of the calling person: memberships and inbox rows may carry either app's."""
    principal = request.ctx.principal
    return [*await identity.openids_of(citizen_id=principal.id), principal.openid]


@mp.post("/org/join")
@require_citizen
@responds(MpOrgJoinPostRead)
async def join_org(request: Request):
    principal = request.ctx.principal
    channel = await identity.app_of_openid(citizen_id=principal.id, openid=principal.openid)
    member = await service.redeem(openid=principal.openid, code=parse_body(request, JoinCreate).code, channel=channel)
    return json({"org": service.org_read(await service.get_org_or_raise(org_id=member.org_id)),
                 "is_admin": member.is_admin})


@mp.post("/org/leave")
@require_citizen
@responds(OkRead)
async def leave_org(request: Request):
    await service.leave(openids=await _openids(request), org_id=parse_body(request, LeaveCreate).org_id)
    return json({"ok": True})


@mp.get("/org/memberships")
@require_citizen
@responds(MpOrgMembershipsRead)
async def memberships(request: Request):
    return json({"items": await service.get_memberships(openids=await _openids(request))})


@mp.post("/org/<org_id:int>/invitations")
@require_citizen
@responds(MpOrgOrgIdInvitationsPostRead)
async def member_invitation(request: Request, org_id: int):
    body = parse_body(request, InvitationCreate)
    return json(await service.create_member_invitation(cfg=_cfg(request), openids=await _openids(request),
                                                       org_id=org_id, is_admin=body.is_admin), status=201)


@mp.get("/inbox")
@require_citizen
@responds(MpInboxRead)
async def inbox(request: Request):
    query = parse_query(request, InboxQuery)
    return json(await service.get_inbox(openids=await _openids(request), **query.model_dump()))


@mp.post("/inbox/<delivery_id:int>/read")
@require_citizen
@responds(MpInboxDeliveryIdReadPostRead)
async def read_inbox(request: Request, delivery_id: int):
    return json(await service.mark_read(openids=await _openids(request), delivery_id=delivery_id))


@mp.get("/notices/subscriptions")
@require_citizen
@responds(HallSubscriptionsRead)
async def list_subscriptions(request: Request):
    return json({"hall_codes": await service.get_subscriptions(citizen_id=request.ctx.principal.id)})


@mp.post("/notices/subscriptions")
@require_citizen
@responds(HallSubscriptionsRead)
async def subscribe(request: Request):
    body = parse_body(request, SubscriptionCreate)
    principal = request.ctx.principal
    codes = await service.subscribe(citizen_id=principal.id, openid=principal.openid, hall_codes=body.hall_codes)
    return json({"hall_codes": codes})


@mp.delete("/notices/subscriptions/<hall_code:str>")
@require_citizen
@responds(HallSubscriptionsRead)
async def unsubscribe(request: Request, hall_code: str):
    return json({"hall_codes": await service.unsubscribe(citizen_id=request.ctx.principal.id, hall_code=hall_code)})
