"""The staff console at /console/: sign-in, the home page, one's own password, static files, and every
page blueprint. Pages are thin like API routes: parse the form with the API's schema, call the same service
function, render a template (server/console/templates/)."""

from __future__ import annotations

import hmac
import secrets

from sanic import Blueprint, Request
from sanic.response import redirect

from server.console import admin, desk, figures, kb, notices, review, screen, session
from server.console.forms import FormError, fields, from_app_error, parse
from server.console.render import STATIC, render
from server.core.auth import Principal
from server.core.errors import AppError
from server.staff import service as staff_service
from server.staff.schemas import StaffLogin

core = Blueprint("console", url_prefix="/console")
core.static("/static", str(STATIC), name="static")
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
        user = await staff_service.authenticate(username=body.username, password=body.password)
    except FormError as exc:
        return _login_form(request, status=422, errors=exc.errors, next=target, username=data.get("username"))
    except AppError as exc:
        return _login_form(request, status=exc.status, errors={"password": exc.message}, next=target,
                           username=data.get("username"))
    response = redirect(target)
    response.delete_cookie(LOGIN_CSRF, path="/console/login")
    await session.start(request, response, name=user.display_name,
                        principal=Principal("staff", user.id, role=user.role.value, hall_code=user.hall_code))
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
    return render(request, "password.html")


@core.post("/password")
@session.page()
async def change_password(request: Request):
    data = fields(request)
    try:
        for name in ("old_password", "new_password"):
            if not data.get(name):
                raise FormError({name: "缺少必填项"})
        await staff_service.change_password(user_id=request.ctx.principal.id, old_password=data["old_password"],
                                            new_password=data["new_password"])
    except FormError as exc:
        return render(request, "password.html", status=422, errors=exc.errors)
    except AppError as exc:
        err = from_app_error(exc, {"PASSWORD_WRONG": "old_password", "PASSWORD_TOO_SHORT": "new_password"})
        return render(request, "password.html", status=exc.status, errors=err.errors)
    return render(request, "password.html", flash="密码已修改，下次登录请使用新密码")
