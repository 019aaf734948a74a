"""Identity routes: mini-program login and real-name binding (face verification or counter code), the public
account's web authorisation, hall staff's binding codes, and a development-only citizen."""

import ipaddress
import secrets

from sanic import Blueprint, Request
from sanic.response import json, redirect

from server.core import auth
from server.core.auth import Principal, issue_session, require_citizen, require_staff
from server.core.errors import Forbidden
from server.core.openapi import responds
from server.core.responses import (
    DevCitizenPostRead,
    DevCitizenPostReadCitizen,
    LoginRead,
    MeRead,
    MpBindingVerifyPostRead,
    StaffBindingCodesPostRead,
)
from server.core.validation import parse_body, parse_query
from server.identity import oauth, service, verification
from server.identity.schemas import (
    BindingCodeCreate,
    BindingCreate,
    CounterBindingCreate,
    DevCitizenCreate,
    FaceVerifyCreate,
    LoginCreate,
    OAuthAuthorizeQuery,
    OAuthCallbackQuery,
)

mp = Blueprint("identity", url_prefix="/api/mp")
oa = Blueprint("identity_oa", url_prefix="/api/oa")
staff = Blueprint("identity_staff", url_prefix="/api/staff")
dev = Blueprint("identity_dev", url_prefix="/api/dev")
bp = Blueprint.group(mp, oa, staff, dev)


def _read(request: Request, citizen) -> dict:
    return service.masked(request.app.ctx.cipher, citizen)


@mp.post("/login")
@responds(LoginRead)
async def login(request: Request):
    """Exchange a wx.login code for a dengji session token."""
    body = parse_body(request, LoginCreate)
    citizen = await service.login_with_code(mp=request.app.ctx.mp, code=body.code)
    token = await issue_session(request.app, Principal("citizen", citizen.id, openid=citizen.openid))
    return json({"token": token, "citizen": _read(request, citizen)})


@mp.get("/me")
@require_citizen
@responds(MeRead)
async def me(request: Request):
    return json(_read(request, await service.get_or_raise(citizen_id=request.ctx.principal.id)))


@mp.post("/binding/verify")
@require_citizen
@responds(MpBindingVerifyPostRead)
async def start_face_verify(request: Request):
    """Start WeChat face verification of the caller's name and ID number; answers the verify_id."""
    body = parse_body(request, FaceVerifyCreate)
    return json(await verification.start_face_verify(request.app, citizen_id=request.ctx.principal.id,
                                                     **body.model_dump()))


@mp.post("/binding")
@require_citizen
@responds(DevCitizenPostReadCitizen)
async def bind(request: Request):
    """Bind the identity of a passed face verification ({"verify_id"})."""
    if isinstance(request.json, dict) and "id_number" in request.json and "verify_id" not in request.json:
        raise verification.refuse_self_declared()
    body = parse_body(request, BindingCreate)
    citizen = await verification.bind_with_face(request.app, citizen_id=request.ctx.principal.id,
                                                verify_id=body.verify_id)
    return json(_read(request, citizen))


@mp.post("/binding/counter")
@require_citizen
@responds(DevCitizenPostReadCitizen)
async def bind_counter(request: Request):
    """Bind with the one-time code hall staff issued after checking the ID card."""
    body = parse_body(request, CounterBindingCreate)
    citizen = await verification.bind_with_counter_code(request.app, citizen_id=request.ctx.principal.id,
                                                        binding_code=body.binding_code)
    return json(_read(request, citizen))


@staff.post("/binding-codes")
@require_staff("hall_staff")
@responds(StaffBindingCodesPostRead)
async def issue_binding_code(request: Request):
    """Issue a one-time binding code for the person whose ID card was checked at this hall's counter."""
    body = parse_body(request, BindingCodeCreate)
    return json(await verification.issue_counter_code(
        request.app, staff=request.ctx.principal, ip=request.remote_addr or request.ip,
        request_id=getattr(request.ctx, "request_id", None), **body.model_dump()), status=201)


@oa.get("/oauth/authorize")
@responds(redirect_only=True)
async def oauth_authorize(request: Request):
    """Send the user to WeChat's web authorisation (snsapi_base), coming back to /api/oa/oauth/callback."""
    query = parse_query(request, OAuthAuthorizeQuery)
    url = await oauth.authorize_url(request.app, next_path=query.next, callback_url=_callback_url(request))
    return redirect(url)


def _callback_url(request: Request) -> str:
    base = request.app.ctx.settings.public_base_url.rstrip("/") or f"{request.scheme}://{request.host}"
    return base + "/api/oa/oauth/callback"


@oa.get("/oauth/callback")
@responds(DevCitizenPostRead)
async def oauth_callback(request: Request):
    """Log the public-account user in: a page cookie and a redirect to ``next``, or JSON without one.

    A non-follower whose unionid WeChat will not tell is signed in unlinked and sent once to WeChat's
    snsapi_userinfo consent page (see server/identity/oauth.py); a refusal leaves them signed in unlinked.
    """
    query = parse_query(request, OAuthCallbackQuery)
    app = request.app
    result = await oauth.login(app, code=query.code, state=query.state)
    previous = request.cookies.get(auth.CITIZEN_COOKIE)
    if result.declined:
        # Only the browser the first round signed in goes on; anyone else holding the state gets nothing.
        principal = await auth.principal_for_token(app, previous) if previous else None
        if principal is None or principal.kind != "citizen" or principal.id != result.expected_citizen:
            raise oauth.OAuthStateInvalid()
        return redirect(result.next_path or "/h5/", headers={"cache-control": "no-store"})
    citizen = result.citizen
    token = await issue_session(app, Principal("citizen", citizen.id, openid=citizen.oa_openid))
    if result.escalate:
        response = redirect(await oauth.authorize_url(app, next_path=result.next_path, callback_url=_callback_url(
            request), scope=oauth.USERINFO, citizen_id=citizen.id), headers={"cache-control": "no-store"})
    elif result.next_path:
        response = redirect(result.next_path)
    else:
        response = json({"token": token, "citizen": _read(request, citizen)})
    if previous and result.expected_citizen is not None:
        # The first round's session in this browser is replaced (its row may have been merged away).
        principal = await auth.principal_for_token(app, previous)
        if principal is not None and principal.kind == "citizen" and principal.id == result.expected_citizen:
            await auth.revoke_session(app, previous)
    response.add_cookie(auth.CITIZEN_COOKIE, token, path="/", httponly=True, samesite="Lax",
                        secure=app.ctx.settings.env == "production",
                        max_age=app.ctx.settings.citizen_session_ttl_seconds)
    return response


@dev.post("/citizen")
@responds(DevCitizenPostRead)
async def dev_citizen(request: Request):
    """Development only, from this machine: a citizen with a verified binding and its bearer token."""
    settings = request.app.ctx.settings
    if settings.env == "production" or not ipaddress.ip_address(request.ip or "0.0.0.0").is_loopback:
        raise Forbidden("仅开发环境可用", code="DEV_ONLY")
    body = parse_body(request, DevCitizenCreate)
    name, id_number, mobile = verification.validated_identity(body.name, body.id_number, body.mobile)
    citizen = await service.link(app_field=service.MP, openid="dev-" + secrets.token_hex(12), unionid=None)
    citizen = await verification.bind_verified(request.app, citizen_id=citizen.id, name=name, id_number=id_number,
                                               mobile=mobile, method="dev")
    token = await issue_session(request.app, Principal("citizen", citizen.id, openid=citizen.openid))
    return json({"token": token, "citizen": _read(request, citizen)})
