"""The staff console at /console/: sign-in, the home page, one's own password, static files, and every
page blueprint. Pages are thin like API routes: parse the form with the API's schema, call the same service
function, render a template (server/console/templates/)."""

from __future__ import annotations

import hmac
import secrets

from sanic import Blueprint, Request
from sanic.response import file, html, redirect

from server.console import admin, desk, figures, kb, notices, review, screen, session
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import STATIC, render
from server.core.errors import AppError
from server.staff import service as staff_service
from server.staff import views as staff_views
from server.staff.schemas import PasswordChange, StaffLogin

core = Blueprint("console", url_prefix="/console")
# Only the files that are there, read once: a crafted name (NUL, too long, a directory) is a plain 404.
STATIC_FILES = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.suffix in (".css", ".js")}
bp = Blueprint.group(core, desk.bp, screen.bp, review.bp, notices.bp, kb.bp, figures.bp, admin.bp)


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an absolute or scheme-relative URL (open redirect).
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/"


# The login form has no session yet: its CSRF token is a double-submit cookie (SameSite=Strict) + hidden field.
LOGIN_CSRF = "dengji_login_csrf"


def _login_form(request: Request, *, status: int = 200, **context):
    token = secrets.token_urlsafe(16)
    response = render(request, "login.html", status=status, login_csrf=token, **context)
    response.add_cookie(LOGIN_CSRF, token, path="/console/login", httponly=True, samesite="Strict",
                        secure=request.app.ctx.settings.env == "production", max_age=3600)
    return response


@core.get("/static/<name:path>")
async def static(request: Request, name: str):
    if name not in STATIC_FILES:
        return html("未找到", status=404)
    return await file(STATIC / name, headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
                      mime_type="text/css" if name.endswith(".css") else "text/javascript")


@core.get("/login")
async def login_page(request: Request):
    notice = "登录已超时或已退出，请重新登录" if request.args.get("next") else None
    return _login_form(request, next=_safe_next(request.args.get("next")), notice=notice)


@core.post("/login")
async def login(request: Request):
    data = fields(request)
    target = _safe_next(data.pop("next", None))
    sent, expected = (request.form.get("csrf") or "").encode(), (request.cookies.get(LOGIN_CSRF) or "").encode()
    if not expected or not hmac.compare_digest(sent, expected):
        return _login_form(request, status=403, next=target, username=data.get("username"),
                           errors={"": "页面已过期，请重新登录"})
    try:
        body = parse(StaffLogin, data)
        user = await staff_views.authenticate(request, body)  # the API's login: same throttle, same audit
    except FormError as exc:
        return _login_form(request, status=422, errors=exc.errors, next=target, username=data.get("username"))
    except AppError as exc:
        return _login_form(request, status=exc.status, errors={"password": exc.message}, next=target,
                           username=data.get("username"))
    response = redirect(target)
    response.delete_cookie(LOGIN_CSRF, path="/console/login")
    await session.start(request, response, name=user.display_name, principal=staff_views.principal_of(user))
    return response


@core.post("/logout")
@session.page()
async def logout(request: Request):
    response = redirect("/console/login")
    await session.end(request, response)
    return response


@core.get("/")
@session.page()
async def home(request: Request):
    return render(request, "home.html")


@core.get("/password")
@session.page()
async def password_page(request: Request):
    flash = "密码已修改，其他设备上的登录已失效" if request.args.get("changed") else None
    return render(request, "password.html", flash=flash)


@core.post("/password")
@session.page()
async def change_password(request: Request):
    """One's own password, through the API's service; the other sessions end, this one is renewed."""
    data = fields(request)
    try:
        body = parse(PasswordChange, {"current_password": data.get("old_password", ""),
                                      "new_password": data.get("new_password", "")})
        user = await staff_service.get_or_raise(account_id=request.ctx.principal.id)
        user = await staff_service.change_password(user=user, current=body.current_password, new=body.new_password)
    except FormError as exc:
        names = {"current_password": "old_password"}
        return render(request, "password.html", status=422,
                      errors={names.get(k, k): v for k, v in exc.errors.items()})
    except AppError as exc:
        err = from_app_error(exc, {"STAFF_PASSWORD_WRONG": "old_password"})
        return render(request, "password.html", status=exc.status, errors=err.errors)
    response = redirect("/console/password?changed=1")
    await session.revoke(request)
    await session.start(request, response, name=request.ctx.console.name, principal=staff_views.principal_of(user))
    return response
