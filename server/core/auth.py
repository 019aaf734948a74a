"""Bearer-token sessions in Redis for citizens and staff, and the decorators that guard routes.

Redis stores only a hash of each token, so a copy of Redis does not hold usable credentials.
"""

from __future__ import annotations

import hashlib
import json
import secrets
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


def _key(app, token: str) -> str:
    return app.ctx.keys("session", hashlib.sha256(token.encode()).hexdigest())


async def issue_session(app, principal: Principal) -> str:
    """Create a session and return its bearer token."""
    token = secrets.token_urlsafe(32)
    ttl = (app.ctx.settings.staff_session_ttl_seconds if principal.kind == "staff"
           else app.ctx.settings.citizen_session_ttl_seconds)
    await app.ctx.redis.set(_key(app, token), json.dumps(principal.__dict__), ex=ttl)
    return token


async def revoke_session(app, token: str) -> None:
    await app.ctx.redis.delete(_key(app, token))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if not token:
        return None
    raw = await request.app.ctx.redis.get(_key(request.app, token))
    return Principal(**json.loads(raw)) if raw else None


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

    return wrapper


def require_staff(*roles: str):
    """Allow only staff, and when roles are given only those roles (admin always passes)."""

    def decorate(handler):
        @wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            principal = await current_principal(request)
            if principal is None:
                raise Unauthorized("请先登录工作人员账号")
            if principal.kind != "staff":
                raise Forbidden("该接口仅供工作人员使用")
            if roles and principal.role not in roles and principal.role != "admin":
                raise Forbidden("当前账号角色无权执行此操作")
            request.ctx.principal = principal
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate
