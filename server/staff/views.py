"""Staff accounts and audit trail routes."""

from sanic import Blueprint, Request
from sanic.response import json

from server.core.auth import Principal, bearer_token, issue_session, require_staff, revoke_session
from server.core.validation import parse_body, parse_query
from server.staff import service
from server.staff.schemas import AuditQuery, StaffCreate, StaffLogin

bp = Blueprint("staff", url_prefix="/api/staff")


@bp.post("/login")
async def login(request: Request):
    body = parse_body(request, StaffLogin)
    user = await service.authenticate(username=body.username, password=body.password)
    token = await issue_session(request.app, Principal("staff", user.id, role=user.role.value,
                                                       hall_code=user.hall_code))
    return json({"token": token, "staff": service.read(user)})


@bp.post("/logout")
@require_staff()
async def logout(request: Request):
    await revoke_session(request.app, bearer_token(request))
    return json({"ok": True})


@bp.get("/accounts")
@require_staff("admin")
async def accounts(request: Request):
    return json({"items": [service.read(u) for u in await service.get_all()]})


@bp.post("/accounts")
@require_staff("admin")
async def create_account(request: Request):
    body = parse_body(request, StaffCreate)
    user = await service.create(**body.model_dump())
    return json(service.read(user), status=201)


@bp.get("/audit")
@require_staff("admin")
async def audit(request: Request):
    query = parse_query(request, AuditQuery)
    rows = await service.audit_entries(limit=query.limit, target_type=query.target_type)
    return json({"items": [
        {"at": r.at.isoformat(), "actor_kind": r.actor_kind, "actor_id": r.actor_id, "action": r.action,
         "target_type": r.target_type, "target_id": r.target_id, "fields": r.fields_read,
         "request_id": r.request_id}
        for r in rows
    ]})
