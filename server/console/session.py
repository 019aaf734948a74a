"""Console sessions: the staff session of the API carried in an HttpOnly cookie, plus a CSRF token and an
idle timeout kept beside it in Redis.

The session itself is the one `server/core/auth.py` issues for `/api/staff/login`, and like an API session
the account is re-read on every request (`current_staff`): a deactivated account, a changed role or hall, or
revoked sessions (`session_version`) take effect on the next page. Every successful console write leaves the
same audit row an API write does (`record_write`). Beside it, `console:<token hash>` holds the CSRF token and the staff
member's display name with a TTL of the idle timeout, renewed on every page: when it is gone the console
asks for a new login even if the staff session still lives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import wraps
from urllib.parse import quote

from sanic import Request
from sanic.response import HTTPResponse, redirect

from server.core.auth import (
    Principal,
    SessionRevoked,
    current_staff,
    issue_session,
    principal_for_token,
    revoke_session,
)

COOKIE = "dengji_staff"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class ConsoleSession:
    principal: Principal
    csrf: str
    name: str


def _key(app, token: str) -> str:
    return app.ctx.keys("console", hashlib.sha256(token.encode()).hexdigest())


async def start(request: Request, response: HTTPResponse, *, principal: Principal, name: str) -> None:
    """Open a console session for a staff member who just proved their password; set the cookie."""
    app = request.app
    token = await issue_session(app, principal)
    extra = json.dumps({"csrf": secrets.token_urlsafe(24), "name": name}, ensure_ascii=False)
    await app.ctx.redis.set(_key(app, token), extra, ex=app.ctx.settings.console_idle_seconds)
    response.add_cookie(COOKIE, token, path="/console", httponly=True, samesite="Strict",
                        secure=app.ctx.settings.env == "production",
                        max_age=app.ctx.settings.staff_session_ttl_seconds)


async def revoke(request: Request) -> None:
    """End this request's console session (its staff session and the console state beside it)."""
    token = request.cookies.get(COOKIE)
    if token:
        await revoke_session(request.app, token)
        await request.app.ctx.redis.delete(_key(request.app, token))


async def end(request: Request, response: HTTPResponse) -> None:
    await revoke(request)
    response.delete_cookie(COOKIE, path="/console")


async def current(request: Request) -> ConsoleSession | None:
    """The live console session of this request, renewing its idle timeout; None when signed out."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    app = request.app
    principal = await principal_for_token(app, token)
    if principal is None or principal.kind != "staff":
        return None
    try:
        principal = await current_staff(principal)  # the account as it stands now
    except SessionRevoked:
        await revoke_session(app, token)
        await app.ctx.redis.delete(_key(app, token))
        return None
    raw = await app.ctx.redis.getex(_key(app, token), ex=app.ctx.settings.console_idle_seconds)
    if not raw:
        await revoke_session(app, token)  # idle too long: the session ends here too
        return None
    extra = json.loads(raw)
    return ConsoleSession(principal, extra["csrf"], extra["name"])


def csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER) or (request.form.get(CSRF_FIELD) if request.form else None) or ""
    return hmac.compare_digest(sent.encode(), expected.encode())


def login_redirect(request: Request) -> HTTPResponse:
    target = "/console/login?next=" + quote(request.path, safe="/")
    if request.headers.get("hx-request"):
        return HTTPResponse(status=401, headers={"HX-Redirect": target})
    return redirect(target)


def allowed(principal: Principal, roles: tuple[str, ...]) -> bool:
    return not roles or principal.role == "admin" or principal.role in roles


def page(*roles: str, audit: bool = True):
    """Guard a console page: signed in, one of `roles` (admin always passes), CSRF token on every POST.

    A POST that succeeds is audited like an API write; `audit=False` for POSTs that only read (previews,
    lookups sent by POST to keep ID numbers out of URLs)."""

    def decorate(handler):
        @wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            from server.console.render import refuse

            session = await current(request)
            if session is None:
                return login_redirect(request)
            request.ctx.principal = session.principal
            request.ctx.console = session
            if not allowed(session.principal, roles):
                return refuse(request, "当前账号角色无权访问此页面")
            if request.method == "POST" and not csrf_ok(request, session.csrf):
                return refuse(request, "页面已过期，请刷新后重试", status=403)
            response = await handler(request, *args, **kwargs)
            if audit and request.method == "POST" and response.status < 400:
                from server.staff.audit import record_write

                form = request.form or {}
                await record_write(request, target_id=next(iter(kwargs.values()), None),
                                   fields=sorted(k for k in form if k != CSRF_FIELD))
            return response

        wrapper.roles = roles
        return wrapper

    return decorate
