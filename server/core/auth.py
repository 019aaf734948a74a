"""Bearer-token sessions in Redis for citizens and staff, and the decorators that guard routes.

Redis stores only a hash of each token, so a copy of Redis does not hold usable credentials.

Each worker also remembers citizen sessions it has seen for up to a minute (never past their expiry), so a
citizen polling slots and booking costs no Redis read per request. Citizen sessions are never revoked
before they expire (there is no citizen logout); staff sessions can be, so they are always read from Redis,
and on every request the staff account itself is read again: a deactivated account, or one whose role or hall
changed or whose sessions were revoked (its `session_version` moved), gets the change on its next request.
Every staff write that succeeds leaves an audit row (who, what, which object, request id).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from functools import wraps

from sanic import Request

from server.core.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Principal:
    kind: str  # "citizen" | "staff"
    id: int
    role: str | None = None
    hall_code: str | None = None
    openid: str | None = None
    version: int | None = None  # staff: the account's session_version at login


LOCAL_TTL_SECONDS = 60.0
_LOCAL_LIMIT = 100_000


def _key(app, token: str) -> str:
    return app.ctx.keys("session", hashlib.sha256(token.encode()).hexdigest())


def _local(app) -> dict[str, tuple[Principal, float]]:
    return app.ctx.__dict__.setdefault("_sessions", {})


def _remember(app, key: str, principal: Principal, expires_at: float | None) -> None:
    """Keep a citizen session in this worker until min(a minute, its expiry) from now."""
    if principal.kind != "citizen" or expires_at is None:
        return
    left = min(LOCAL_TTL_SECONDS, expires_at - time.time())
    if left > 0:
        local = _local(app)
        if len(local) >= _LOCAL_LIMIT:
            local.clear()
        local[key] = (principal, time.monotonic() + left)


async def issue_session(app, principal: Principal) -> str:
    """Create a session and return its bearer token."""
    token = secrets.token_urlsafe(32)
    ttl = (app.ctx.settings.staff_session_ttl_seconds if principal.kind == "staff"
           else app.ctx.settings.citizen_session_ttl_seconds)
    key, expires_at = _key(app, token), time.time() + ttl
    await app.ctx.redis.set(key, json.dumps(principal.__dict__ | {"exp": expires_at}), ex=ttl)
    _remember(app, key, principal, expires_at)
    return token


async def revoke_session(app, token: str) -> None:
    key = _key(app, token)
    _local(app).pop(key, None)
    await app.ctx.redis.delete(key)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# Pages opened inside WeChat (public-account web authorisation) carry the citizen session in this HttpOnly
# cookie instead of a bearer header; only page routes read it (the JSON API stays bearer-only, so no CSRF there).
CITIZEN_COOKIE = "dengji_citizen"


async def current_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if not token:
        return None
    return await principal_for_token(request.app, token)


async def principal_for_token(app, token: str) -> Principal | None:
    """The live session behind a token (bearer header or page cookie), or None."""
    key = _key(app, token)
    hit = _local(app).get(key)
    if hit is not None:
        if hit[1] > time.monotonic():
            return hit[0]
        _local(app).pop(key, None)
    raw = await app.ctx.redis.get(key)
    if not raw:
        return None
    data = json.loads(raw)
    expires_at = data.pop("exp", None)
    principal = Principal(**data)
    _remember(app, key, principal, expires_at)
    return principal


def require_citizen(handler):
    """Allow only a logged-in citizen; the principal lands on request.ctx.principal."""

    @wraps(handler)
    async def wrapper(request: Request, *args, **kwargs):
        principal = await current_principal(request)
        if principal is None:
            raise Unauthorized()
        if principal.kind != "citizen":
            raise Forbidden("该接口仅供市民使用")
        request.ctx.principal = principal
        return await handler(request, *args, **kwargs)

    wrapper.dengji_auth = ("citizen", ())  # read by the API document (server/core/openapi.py)
    return wrapper


class SessionRevoked(Unauthorized):
    code, message = "STAFF_SESSION_REVOKED", "登录已失效（账号已停用、权限已变更或已被注销），请重新登录"


async def current_staff(principal: Principal) -> Principal:
    """The staff principal as the account stands now (role and hall from the database), or SessionRevoked."""
    from models import StaffUser

    user = await StaffUser.get_or_none(id=principal.id)
    if user is None or not user.active or user.session_version != (principal.version or 1):
        raise SessionRevoked()
    return Principal("staff", user.id, role=user.role.value, hall_code=user.hall_code, version=user.session_version)


def hall_scope(principal: Principal, hall_code: str | None) -> str | None:
    """The hall a staff member may act on: admins any; an account bound to a hall only that one (hall staff
    must be bound); others (reviewers, hotline, publishers without a hall) any. Raise Forbidden otherwise."""
    if principal.role == "admin":
        return hall_code
    if principal.hall_code:
        if hall_code and hall_code != principal.hall_code:
            raise Forbidden("只能处理本大厅的业务", code="HALL_FORBIDDEN")
        return principal.hall_code
    if principal.role == "hall_staff":
        raise Forbidden("账号未绑定大厅，请联系管理员", code="HALL_FORBIDDEN")
    return hall_code


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def require_staff(*roles: str):
    """Allow only staff, and when roles are given only those roles (admin always passes).

    The account is re-read on every request; every successful write is audited."""

    def decorate(handler):
        @wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            principal = await current_principal(request)
            if principal is None:
                raise Unauthorized("请先登录工作人员账号")
            if principal.kind != "staff":
                raise Forbidden("该接口仅供工作人员使用")
            principal = await current_staff(principal)
            if roles and principal.role not in roles and principal.role != "admin":
                raise Forbidden("当前账号角色无权执行此操作")
            request.ctx.principal = principal
            response = await handler(request, *args, **kwargs)
            if request.method in WRITE_METHODS and response.status < 400:
                from server.staff.audit import record_write

                await record_write(request, target_id=next(iter(kwargs.values()), None))
            return response

        wrapper.dengji_auth = ("staff", roles)  # read by the API document (server/core/openapi.py)
        return wrapper

    return decorate
