"""Citizen identities: one row per person, found by the mini-program openid, the public-account openid or the
unionid shared by both; mini-program login; masks.

How a binding is proven (face verification, counter code) lives in ``verification.py``; the public account's
web authorisation in ``oauth.py``.
"""

from __future__ import annotations

import logging

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from wechatpy.exceptions import WeChatClientException

from models import Citizen
from server.core.crypto import PiiCipher
from server.core.errors import AppError, NotFound, Unprocessable
from server.identity import validators as v
from server.wechat.client import WeChatGateway, WeChatUnavailable, is_transient

log = logging.getLogger("dengji.identity")

MP, OA = "openid", "oa_openid"  # the Citizen column holding each app's openid


class LoginFailed(AppError):
    status, code, message = 401, "WECHAT_LOGIN_FAILED", "微信登录失败，请重新进入小程序"


class WeChatNotConfigured(AppError):
    status, code = 503, "WECHAT_NOT_CONFIGURED"
    message = ("未配置小程序 AppID（DENGJI_MP_APPID、DENGJI_MP_SECRET），无法用微信登录；"
               "开发环境可运行 `dengji dev citizen --name 张三 --id-number …` 取得测试身份")


async def login_with_code(*, mp: WeChatGateway, code: str) -> Citizen:
    """Exchange a wx.login code for the openid (jscode2session) and return that person's citizen row."""
    if not mp.configured:
        raise WeChatNotConfigured()
    session = await exchange_code(mp, lambda c: c.wxa.code_to_session(code), api="jscode2session",
                                  failed=LoginFailed)
    openid = session.get("openid")
    if not openid:
        raise LoginFailed()
    return await link(app_field=MP, openid=openid, unionid=session.get("unionid"))


async def exchange_code(gateway: WeChatGateway, fn, *, api: str, failed: type[AppError]) -> dict:
    """Trade a login code for an openid: WeChat refusing the code is ``failed``, a passing fault a 503."""
    try:
        return await gateway.call_without_token(fn, api=api)
    except WeChatClientException as exc:
        if is_transient(exc):
            raise WeChatUnavailable() from exc
        raise failed() from exc
    except OSError as exc:
        raise WeChatUnavailable() from exc


async def link(*, app_field: str, openid: str, unionid: str | None) -> Citizen:
    """Return the person behind an app's openid, creating or joining rows so that one person is one row.

    A row found by the openid and another found by the unionid are the same person seen first in each app:
    they are merged.
    """
    for _ in range(3):  # a concurrent login of the same person may insert first; then look again
        try:
            return await _link_once(app_field, openid, unionid)
        except IntegrityError:
            continue
    return await _link_once(app_field, openid, unionid)


async def _link_once(app_field: str, openid: str, unionid: str | None) -> Citizen:
    by_openid = await Citizen.get_or_none(**{app_field: openid})
    by_union = await Citizen.get_or_none(unionid=unionid) if unionid else None
    if by_openid is not None and by_union is not None and by_openid.id != by_union.id:
        return await _merge(by_union, by_openid)
    if by_openid is not None:
        if unionid and not by_openid.unionid:
            by_openid.unionid = unionid
            await by_openid.save(update_fields=["unionid", "updated_at"])
        return by_openid
    if by_union is not None:
        if getattr(by_union, app_field) != openid:
            setattr(by_union, app_field, openid)
            await by_union.save(update_fields=[app_field, "updated_at"])
        return by_union
    return await Citizen.create(**{app_field: openid}, unionid=unionid)


_IDENTITY_FIELDS = ("name_enc", "id_number_enc", "id_hash", "id_last6_hash", "mobile_enc", "mobile_hash", "bound_at",
                    "verified_by", "verified_at", "claimed_id_hash", "suspended_until")


async def _merge(keep: Citizen, other: Citizen) -> Citizen:
    """Fold ``other`` (the same person, first seen in another app) into ``keep``; rows pointing at it move."""
    if other.id_hash and not keep.id_hash:
        keep, other = other, keep  # the verified binding wins
    moved = {f: getattr(other, f) for f in (MP, OA, "unionid") if getattr(other, f) and not getattr(keep, f)}
    binding = {f: getattr(other, f) for f in _IDENTITY_FIELDS} if not keep.id_hash and not keep.claimed_id_hash \
        else {}
    for model in Tortoise.apps["models"].values():
        if model is not Citizen and "citizen_id" in model._meta.fields_db_projection.values():
            try:
                await model.filter(citizen_id=other.id).update(citizen_id=keep.id)
            except IntegrityError:  # the same subscription on both rows: the kept one stays
                await model.filter(citizen_id=other.id).delete()
    await other.delete()
    for field, value in {**binding, **moved}.items():
        setattr(keep, field, value)
    await keep.save()
    log.info("citizen rows merged", extra={"fields": {"kept": keep.id, "merged": other.id}})
    return keep


async def link_oa_openid(app, *, openid: str, unionid: str | None = None, create: bool = True) -> Citizen | None:
    """Link a public-account openid to its person, asking cgi-bin/user/info for the unionid when not given.

    Without a unionid (the user does not follow the account, or WeChat cannot be asked) the openid still gets
    a row of its own when ``create``; it joins the person's row once the unionid is known. Without ``create``
    it only joins an existing person.
    """
    if unionid is None:
        unionid = await oa_unionid(app, openid=openid)
    if not create and (unionid is None or not await Citizen.exists(unionid=unionid)):
        return await Citizen.get_or_none(oa_openid=openid)  # nobody to join: no new row for a lookup
    return await link(app_field=OA, openid=openid, unionid=unionid)


async def oa_unionid(app, *, openid: str) -> str | None:
    """The unionid of a public-account openid (cgi-bin/user/info), or None when WeChat does not give it."""
    return (await oa_user_info(app, openid=openid))[0]


async def oa_user_info(app, *, openid: str) -> tuple[str | None, bool | None]:
    """(unionid, follows the account) from cgi-bin/user/info; (None, None) when WeChat cannot be asked.

    A non-follower's answer is only ``{"subscribe": 0, "openid"}`` ("拉取不到其余信息"): (None, False).
    """
    wechat = app.ctx.wechat
    if not wechat.configured:
        return None, None
    try:
        info = await wechat.call(lambda c: c.user.get(openid), api="user_info")
    except (WeChatClientException, OSError) as exc:
        log.info("user/info gave no unionid", extra={"fields": {"error": type(exc).__name__,
                                                                "errcode": getattr(exc, "errcode", None)}})
        return None, None
    info = info or {}
    return info.get("unionid") or None, bool(info.get("subscribe")) if "subscribe" in info else None


async def citizen_for_openid(app, *, openid: str) -> Citizen | None:
    """The person behind an openid of either app; an unknown public-account openid is linked on the way."""
    citizen = await Citizen.get_or_none(Q(openid=openid) | Q(oa_openid=openid))
    if citizen is not None:
        return citizen
    return await link_oa_openid(app, openid=openid, create=False)


async def openids_of(*, citizen_id: int) -> list[str]:
    """Every openid of the person (mini-program and public account)."""
    row = await Citizen.get_or_none(id=citizen_id).values(MP, OA)
    return [o for o in (row or {}).values() if o]


def _validated(fn, value: str) -> str:
    try:
        return fn(value)
    except v.InvalidIdentity as exc:
        raise Unprocessable(exc.message, code=exc.code) from exc


def id_hash(cipher: PiiCipher, id_number: str) -> str:
    return cipher.digest(id_number, purpose="id")


async def get_or_raise(*, citizen_id: int) -> Citizen:
    citizen = await Citizen.get_or_none(id=citizen_id)
    if citizen is None:
        raise NotFound("用户不存在", code="CITIZEN_NOT_FOUND")
    return citizen


async def get_by_id_number(*, cipher: PiiCipher, id_number: str) -> Citizen | None:
    """The citizen with a verified binding of this ID number, if any."""
    return await Citizen.get_or_none(id_hash=id_hash(cipher, id_number))


def verification(citizen: Citizen) -> str | None:
    """"face" / "counter" / "dev" for a verified binding, "unverified" for a self-declared one, else None."""
    if citizen.id_hash:
        return citizen.verified_by or "unverified"
    return "unverified" if citizen.claimed_id_hash and citizen.id_number_enc else None


def masked(cipher: PiiCipher, citizen: Citizen) -> dict:
    """Serialise a citizen with every personal field masked; ``bound`` only for a verified binding."""
    has_name = citizen.id_number_enc is not None
    mobile = cipher.decrypt(citizen.mobile_enc) if has_name and citizen.mobile_enc else None
    return {
        "id": citizen.id,
        "bound": bool(citizen.id_hash),
        "verification": verification(citizen),
        "name": v.mask_name(cipher.decrypt(citizen.name_enc)) if has_name else None,
        "id_number": v.mask_id(cipher.decrypt(citizen.id_number_enc)) if has_name else None,
        "mobile": v.mask_mobile(mobile) if mobile else None,
        "suspended_until": citizen.suspended_until.isoformat() if citizen.suspended_until else None,
    }


async def app_of_openid(*, citizen_id: int, openid: str | None) -> str:
    """"oa" when ``openid`` is the person's public-account openid, else "mp"."""
    return "oa" if openid and await Citizen.exists(id=citizen_id, oa_openid=openid) else "mp"
