"""Citizen identities: mini-program login and real-name binding."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from wechatpy.exceptions import WeChatClientException

from models import Citizen
from server.core.crypto import PiiCipher
from server.core.errors import AppError, Conflict, NotFound, Unprocessable
from server.identity import validators as v
from server.wechat.client import WeChatGateway, WeChatUnavailable, is_transient


class LoginFailed(AppError):
    status, code, message = 401, "WECHAT_LOGIN_FAILED", "微信登录失败，请重新进入小程序"


async def login_with_code(*, mp: WeChatGateway, code: str) -> Citizen:
    """Exchange a wx.login code for the openid (jscode2session) and return that citizen."""
    try:
        session = await mp.call_without_token(lambda c: c.wxa.code_to_session(code), api="jscode2session")
    except WeChatClientException as exc:
        if is_transient(exc):
            raise WeChatUnavailable() from exc
        raise LoginFailed() from exc
    except OSError as exc:
        raise WeChatUnavailable() from exc
    openid = session.get("openid")
    if not openid:
        raise LoginFailed()
    citizen, _ = await Citizen.get_or_create(openid=openid, defaults={"unionid": session.get("unionid")})
    return citizen


def _validated(fn, value: str) -> str:
    try:
        return fn(value)
    except v.InvalidIdentity as exc:
        raise Unprocessable(exc.message, code=exc.code) from exc


def id_hash(cipher: PiiCipher, id_number: str) -> str:
    return cipher.digest(id_number, purpose="id")


async def bind_real_name(*, cipher: PiiCipher, citizen_id: int, name: str, id_number: str,
                         mobile: str) -> Citizen:
    """Bind a verified real name to a citizen; one ID number belongs to one WeChat account."""
    name = _validated(v.validate_name, name)
    id_number = _validated(v.validate_resident_id, id_number)
    mobile = _validated(v.validate_mobile, mobile)
    citizen = await get_or_raise(citizen_id=citizen_id)
    digest = id_hash(cipher, id_number)
    if citizen.id_hash and citizen.id_hash != digest:
        raise Conflict("该微信账号已绑定其他身份证号", code="ALREADY_BOUND")
    citizen.name_enc = cipher.encrypt(name)
    citizen.id_number_enc = cipher.encrypt(id_number)
    citizen.id_hash = digest
    citizen.id_last6_hash = cipher.digest(v.id_last6(id_number), purpose="id6")
    citizen.mobile_enc = cipher.encrypt(mobile)
    citizen.mobile_hash = cipher.digest(mobile, purpose="mobile")
    citizen.bound_at = citizen.bound_at or datetime.now(UTC)
    try:
        await citizen.save()
    except IntegrityError as exc:
        raise Conflict("该身份证号已绑定其他微信账号，如有疑问请致电 96510", code="ID_BOUND_ELSEWHERE") from exc
    return citizen


async def get_or_raise(*, citizen_id: int) -> Citizen:
    citizen = await Citizen.get_or_none(id=citizen_id)
    if citizen is None:
        raise NotFound("用户不存在", code="CITIZEN_NOT_FOUND")
    return citizen


async def get_by_id_number(*, cipher: PiiCipher, id_number: str) -> Citizen | None:
    return await Citizen.get_or_none(id_hash=id_hash(cipher, id_number))


def masked(cipher: PiiCipher, citizen: Citizen) -> dict:
    """Serialise a citizen with every personal field masked."""
    bound = citizen.id_number_enc is not None
    return {
        "id": citizen.id,
        "bound": bound,
        "name": v.mask_name(cipher.decrypt(citizen.name_enc)) if bound else None,
        "id_number": v.mask_id(cipher.decrypt(citizen.id_number_enc)) if bound else None,
        "mobile": v.mask_mobile(cipher.decrypt(citizen.mobile_enc)) if bound else None,
        "suspended_until": citizen.suspended_until.isoformat() if citizen.suspended_until else None,
    }
