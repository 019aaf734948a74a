"""Mini-program identity routes: login and real-name binding."""

from sanic import Blueprint, Request
from sanic.response import json

from server.core.auth import Principal, issue_session, require_citizen
from server.core.validation import parse_body
from server.identity import service
from server.identity.schemas import BindingCreate, LoginCreate

bp = Blueprint("identity", url_prefix="/api/mp")


@bp.post("/login")
async def login(request: Request):
    """Exchange a wx.login code for a dengji session token."""
    body = parse_body(request, LoginCreate)
    citizen = await service.login_with_code(mp=request.app.ctx.mp, code=body.code)
    token = await issue_session(request.app, Principal("citizen", citizen.id, openid=citizen.openid))
    return json({"token": token, "citizen": service.masked(request.app.ctx.cipher, citizen)})


@bp.get("/me")
@require_citizen
async def me(request: Request):
    citizen = await service.get_or_raise(citizen_id=request.ctx.principal.id)
    return json(service.masked(request.app.ctx.cipher, citizen))


@bp.post("/binding")
@require_citizen
async def bind(request: Request):
    """Bind the caller's real name (name, resident ID number, mobile)."""
    body = parse_body(request, BindingCreate)
    citizen = await service.bind_real_name(cipher=request.app.ctx.cipher, citizen_id=request.ctx.principal.id,
                                           **body.model_dump())
    return json(service.masked(request.app.ctx.cipher, citizen))
