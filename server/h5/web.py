"""Plumbing of the public-account pages: templates, static files, the citizen cookie, CSRF and sign-in.

The pages sign a citizen in with the HttpOnly cookie `CITIZEN_COOKIE` (set by the public account's web
authorisation, or in development by the dev login). Forms post back with a CSRF token: a random value kept
in a SameSite=Lax cookie and echoed in a hidden field (double submit), so another site cannot post for them.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import secrets
from functools import lru_cache, wraps
from pathlib import Path
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, html, redirect

from models import Citizen
from server.catalog import service as catalog_service
from server.core.auth import CITIZEN_COOKIE, Principal, principal_for_token
from server.core.errors import AppError, validation_details

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CSRF_COOKIE = "dengji_csrf"
CSRF_FIELD = "csrf"
AUTHORIZE_URL = "/api/oa/oauth/authorize"
PREFIX = "/h5"
# Pages show personal data and answer per person: never cached by WeChat's webview or a proxy. Styles, scripts
# and form targets are our own; the inline QR code is markup, not an image or a script.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["static"] = static_url
    return env


# ------------------------------------------------------------------ static files


@lru_cache(maxsize=1)
def static_files() -> dict[str, tuple[bytes, bytes, str, str]]:
    """Every served file once: (body, gzipped body, content type, etag); gzip keeps WeUI's CSS ~23 KB on the wire."""
    out = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.suffix in STATIC_TYPES:
            body = path.read_bytes()
            out[path.relative_to(STATIC_DIR).as_posix()] = (
                body, gzip.compress(body, 9, mtime=0), STATIC_TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:16])
    return out


def static_url(name: str) -> str:
    # The version in the query lets the file be cached for long and still change with a release.
    return f"{PREFIX}/static/{name}?v={static_files()[name][3]}"


def static_response(request: Request, name: str) -> HTTPResponse:
    found = static_files().get(name)
    if found is None:
        return html("未找到", status=404)
    body, gz, content_type, etag = found
    headers = {"cache-control": "public, max-age=604800, immutable", "etag": f'"{etag}"', "vary": "accept-encoding",
               "x-content-type-options": "nosniff"}
    if request.headers.get("if-none-match") == f'"{etag}"':
        return HTTPResponse(status=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return HTTPResponse(gz, headers=headers | {"content-encoding": "gzip"}, content_type=content_type)
    return HTTPResponse(body, headers=headers, content_type=content_type)


# ------------------------------------------------------------------ rendering and CSRF


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one the response will set."""
    token = getattr(request.ctx, "csrf_new", None) or request.cookies.get(CSRF_COOKIE, "")
    if len(token) < 20:
        token = request.ctx.csrf_new = secrets.token_urlsafe(24)
    return token


def render(request: Request, name: str, *, status: int = 200, **context) -> HTTPResponse:
    """Render a page with the base layout's context (CSRF token, dev mode) and the page headers."""
    context.setdefault("errors", {})
    body = templates().get_template(name).render(
        csrf=csrf_token(request), csrf_field=CSRF_FIELD, path=request.path, center=getattr(request.ctx, "center", {}),
        unlinked=getattr(request.ctx, "unlinked", None), dev=request.app.ctx.settings.env != "production", **context)
    response = html(body, status=status, headers=PAGE_HEADERS)
    new = getattr(request.ctx, "csrf_new", None)
    if new:
        response.add_cookie(CSRF_COOKIE, new, path=PREFIX, httponly=True, samesite="Lax",
                            secure=request.scheme == "https")
    return response


def check_csrf(request: Request) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "") if request.form else ""
    return len(cookie) >= 20 and hmac.compare_digest(cookie.encode(), sent.encode())


def form(request: Request) -> dict[str, str]:
    """The posted form's fields (first value each, surrounding spaces trimmed), without the CSRF token."""
    return {k: v[0].strip() for k, v in (request.form or {}).items() if k != CSRF_FIELD and v}


def safe_next(value: str | None, default: str = PREFIX + "/") -> str:
    """Only our own pages: a `next` pointing elsewhere would make sign-in an open redirect."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == PREFIX or parts.path.startswith(PREFIX + "/")):
        return default
    return value


# ------------------------------------------------------------------ errors next to their cause


def field_errors(exc: Exception, fields: dict[str, str] | None = None) -> dict[str, str]:
    """Chinese messages keyed by the form field that caused them ("form" when none did).

    `fields` maps an error code to the field it belongs to; validation errors name their own fields.
    """
    if isinstance(exc, ValidationError):
        out: dict[str, str] = {}
        for d in validation_details(exc):
            out.setdefault(d["field"] or "form", d["message"])
        return out
    if isinstance(exc, AppError):
        return {(fields or {}).get(exc.code, "form"): exc.message}
    raise exc


def error_status(exc: Exception) -> int:
    return exc.status if isinstance(exc, AppError) else 422


# ------------------------------------------------------------------ signed-in citizens


async def citizen(request: Request) -> Principal | None:
    """The citizen signed in through the page cookie, or None."""
    token = request.cookies.get(CITIZEN_COOKIE)
    if not token:
        return None
    principal = await principal_for_token(request.app, token)
    return principal if principal is not None and principal.kind == "citizen" else None


async def unlinked(principal: Principal | None) -> dict | None:
    """For a person signed in without a unionid (WeChat would not tell it): {"bound": …}, shown on every page.

    Their mini-program self (binding, bookings) cannot be found; see server/identity/oauth.py.
    """
    if principal is None:
        return None
    row = await Citizen.get_or_none(id=principal.id).values("unionid", "id_hash")
    if row is None or row["unionid"]:
        return None
    return {"bound": bool(row["id_hash"])}


def in_wechat(request: Request) -> bool:
    return "micromessenger" in request.headers.get("user-agent", "").lower()


def sign_in(request: Request) -> HTTPResponse:
    """Inside WeChat: go through the public account's web authorisation; elsewhere say to open it in WeChat."""
    # Back to the same page after signing in; a form post cannot be replayed, so that lands on the home page.
    target = PREFIX + "/"
    if request.method == "GET":
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
    if in_wechat(request):
        return redirect(f"{AUTHORIZE_URL}?next={quote(target, safe='/')}", headers={"cache-control": "no-store"})
    return render(request, "open_in_wechat.html", status=401, title="请在微信中打开", next=target)


def page(*, login: bool = False, post: bool = False):
    """Guard a page handler: the signed-in citizen (required or optional) and, for posts, the CSRF check."""

    def decorate(handler):
        @wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            request.ctx.citizen = await citizen(request)
            request.ctx.unlinked = await unlinked(request.ctx.citizen)
            # The center's name, hotline and account names as the center configured them (config/data/center.yaml).
            request.ctx.center = (await catalog_service.get(request.app)).settings.get("center") or {}
            if post and not check_csrf(request):
                return render(request, "message.html", status=403, title="页面已过期", icon="warn",
                              message="页面已过期或来源不明，请返回上一页刷新后重新提交。")
            if login and request.ctx.citizen is None:
                return sign_in(request)
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate
