"""Staff accounts, own password, sessions and the audit trail routes."""

from sanic import Blueprint, Request
from sanic.response import json

from server.catalog import service as catalog_service
from server.core.auth import Principal, bearer_token, issue_session, require_staff, revoke_session
from server.core.errors import Unprocessable
from server.core.openapi import responds
from server.core.responses import (
    AuditRead,
    Items,
    OkRead,
    StaffLoginRead,
    StaffRead,
)
from server.core.validation import parse_body, parse_query
from server.staff import service
from server.staff.audit import record_write
from server.staff.schemas import AuditQuery, PasswordChange, PasswordReset, StaffCreate, StaffLogin, StaffUpdate

bp = Blueprint("staff", url_prefix="/api/staff")


def principal_of(user) -> Principal:
    return Principal("staff", user.id, role=user.role.value, hall_code=user.hall_code, version=user.session_version)


async def check_hall(request: Request, hall_code: str | None) -> None:
    if hall_code and hall_code not in (await catalog_service.get(request.app)).halls:
        raise Unprocessable("大厅不存在", code="UNKNOWN_HALL")


async def authenticate(request: Request, body: StaffLogin):
    """Log a staff member in under the throttle, auditing the outcome (the API's login and the console's)."""
    ctx = request.app.ctx
    try:
        user = await service.login(redis=ctx.redis, keys=ctx.keys, settings=ctx.settings, username=body.username,
                                   password=body.password, ip=request.remote_addr or request.ip)
    except service.LoginRejected as exc:
        # Tries refused by the throttle are not written: a flood of them must not become a flood of rows.
        await record_write(request, action=f"staff.login.{exc.code.lower()}", actor_id=body.username,
                           target_id=body.username, fields=[])
        raise
    await record_write(request, action="staff.login", actor_id=user.id, target_id=user.id, fields=[])
    return user


@bp.post("/login")
@responds(StaffLoginRead)
async def login(request: Request):
    user = await authenticate(request, parse_body(request, StaffLogin))
    token = await issue_session(request.app, principal_of(user))
    return json({"token": token, "staff": service.read(user)})


@bp.post("/logout")
@require_staff()
@responds(OkRead)
async def logout(request: Request):
    await revoke_session(request.app, bearer_token(request))
    return json({"ok": True})


@bp.get("/me")
@require_staff()
@responds(StaffRead)
async def me(request: Request):
    """The logged-in account as it stands now."""
    return json(service.read(await service.get_or_raise(account_id=request.ctx.principal.id)))


@bp.put("/me/password")
@require_staff()
@responds(StaffLoginRead)
async def change_password(request: Request):
    """Change one's own password; every other session ends and this one gets a fresh token."""
    body = parse_body(request, PasswordChange)
    user = await service.get_or_raise(account_id=request.ctx.principal.id)
    user = await service.change_password(user=user, current=body.current_password, new=body.new_password)
    await revoke_session(request.app, bearer_token(request))
    return json({"token": await issue_session(request.app, principal_of(user)), "staff": service.read(user)})


@bp.get("/accounts")
@require_staff("admin")
@responds(Items[StaffRead])
async def accounts(request: Request):
    return json({"items": [service.read(u) for u in await service.get_all()]})


@bp.post("/accounts")
@require_staff("admin")
@responds(StaffRead)
async def create_account(request: Request):
    body = parse_body(request, StaffCreate)
    await check_hall(request, body.hall_code)
    user = await service.create(**body.model_dump())
    return json(service.read(user), status=201)


@bp.get("/accounts/<account_id:int>")
@require_staff("admin")
@responds(StaffRead)
async def account(request: Request, account_id: int):
    return json(service.read(await service.get_or_raise(account_id=account_id)))


@bp.patch("/accounts/<account_id:int>")
@require_staff("admin")
@responds(StaffRead)
async def update_account(request: Request, account_id: int):
    """Change name, role, hall or active (deactivate); the account gets the change on its next request."""
    body = parse_body(request, StaffUpdate)
    changes = body.model_dump(exclude_unset=True)
    if "role" in changes and changes["role"] is None or "active" in changes and changes["active"] is None:
        raise Unprocessable("角色和启用状态不能为空", code="VALIDATION_ERROR")
    await check_hall(request, changes.get("hall_code"))
    user = await service.get_or_raise(account_id=account_id)
    user = await service.update(user=user, actor_id=request.ctx.principal.id, changes=changes)
    return json(service.read(user))


@bp.put("/accounts/<account_id:int>/password")
@require_staff("admin")
@responds(StaffRead)
async def reset_password(request: Request, account_id: int):
    """Set a new password (admin reset); the account's sessions end and its login lock is lifted."""
    body = parse_body(request, PasswordReset)
    user = await service.reset_password(user=await service.get_or_raise(account_id=account_id), new=body.new_password)
    await service.lift_lockout(redis=request.app.ctx.redis, keys=request.app.ctx.keys, user=user)
    return json(service.read(user))


@bp.delete("/accounts/<account_id:int>/sessions")
@require_staff("admin")
@responds(StaffRead)
async def revoke_sessions(request: Request, account_id: int):
    """End every session of the account (it must log in again)."""
    user = await service.revoke_sessions(user=await service.get_or_raise(account_id=account_id))
    return json(service.read(user))


@bp.delete("/accounts/<account_id:int>/lockout")
@require_staff("admin")
@responds(StaffRead)
async def lift_lockout(request: Request, account_id: int):
    """Lift the login lock-out of an account after too many wrong passwords."""
    user = await service.get_or_raise(account_id=account_id)
    await service.lift_lockout(redis=request.app.ctx.redis, keys=request.app.ctx.keys, user=user)
    return json(service.read(user))


@bp.get("/audit")
@require_staff("admin")
@responds(Items[AuditRead])
async def audit(request: Request):
    query = parse_query(request, AuditQuery)
    rows = await service.audit_entries(limit=query.limit, target_type=query.target_type)
    return json({"items": [
        {"at": r.at.isoformat(), "actor_kind": r.actor_kind, "actor_id": r.actor_id, "action": r.action,
         "target_type": r.target_type, "target_id": r.target_id, "fields": r.fields_read,
         "request_id": r.request_id}
        for r in rows
    ]})
