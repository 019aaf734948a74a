"""Real-name binding that proves the person: WeChat face verification, or a code issued at the hall counter.

Face verification (微信人脸核身, mini-program server API):
1. ``start_face_verify`` checks the ID number and calls ``cityservice/face/identify/getverifyid`` with the
   citizen's mini-program openid and the name and ID number; the mini-program passes the ``verify_id`` to
   ``wx.requestFacialVerify``.
2. ``bind_with_face`` asks ``cityservice/face/identify/queryverifyinfo``; only ``verify_ret`` 10000 binds.
   https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo.html

Counter: hall staff check the ID card and ``issue_counter_code``; the citizen enters the one-time code
(``bind_with_counter_code``). Codes live ten minutes in Redis, are taken with GETDEL (single use) and their
issue is audited.

A verified binding displaces any other binding of the same ID number (the earlier one proved nothing, or the
person has a new WeChat account); nothing tells a caller that an ID number is bound elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from datetime import UTC, datetime

from tortoise.transactions import in_transaction
from wechatpy.exceptions import WeChatClientException

from models import AuditLog, Citizen
from server.core.errors import AppError, Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from server.identity import service
from server.identity import validators as v
from server.wechat.client import WECHAT_ROOT, WeChatUnavailable, is_transient

log = logging.getLogger("dengji.identity")

VERIFY_OK = 10000
FACE_SESSION_SECONDS = 3600  # WeChat's verify_id lives an hour (getverifyid expires_in)
FACE_ATTEMPTS_PER_DAY = 10
CODE_TTL_SECONDS = 600
CODE_ATTEMPTS = 5  # wrong codes a citizen may enter per CODE_TTL_SECONDS


class FaceVerifyFailed(AppError):
    status, code = 403, "FACE_VERIFY_FAILED"
    message = ("人脸核身未通过。请确认填写的是您本人的姓名和身份证号，并由本人在光线充足处重新核身；"
               "仍无法通过的，可携带身份证到登记大厅窗口办理绑定。")


class FaceVerifyIncomplete(AppError):
    status, code = 409, "FACE_VERIFY_INCOMPLETE"
    message = "人脸核身尚未完成或已取消，请重新发起核身并按提示完成。"


class VerifyIdInvalid(AppError):
    status, code = 404, "VERIFY_ID_INVALID"
    message = "核身记录不存在或已过期，请重新发起人脸核身。"


class BindingCodeInvalid(AppError):
    status, code = 422, "BINDING_CODE_INVALID"
    message = "绑定码无效、已使用或已过期，请核对后重新输入，或到窗口重新获取。"


def _mp_required() -> AppError:
    return Conflict("请在小程序中登录后进行人脸核身", code="MP_LOGIN_REQUIRED")


def cert_hash(cert_info: dict) -> str:
    """WeChat's cert_hash: SHA-256 (hex) of cert_type=b64&cert_name=b64&cert_no=b64."""
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    return hashlib.sha256("&".join(f"{k}={b64(cert_info[k])}" for k in ("cert_type", "cert_name", "cert_no"))
                          .encode()).hexdigest()


def validated_identity(name: str, id_number: str, mobile: str | None) -> tuple[str, str, str | None]:
    name = service._validated(v.validate_name, name)
    id_number = service._validated(v.validate_resident_id, id_number)
    mobile = service._validated(v.validate_mobile, mobile) if mobile else None
    return name, id_number, mobile


def _refuse_other_id(cipher, citizen: Citizen, id_number: str) -> None:
    if citizen.id_hash and citizen.id_hash != service.id_hash(cipher, id_number):
        raise Conflict("该微信账号已绑定其他身份证号", code="ALREADY_BOUND")


async def _count(redis, key: str, ttl: int) -> int:
    # INCR first, then set the expiry once: atomic per attempt, so parallel requests cannot slip past a limit.
    n = await redis.incr(key)
    if n == 1:
        await redis.expire(key, ttl)
    return n


async def _wechat(gateway, fn, *, api: str):
    try:
        return await gateway.call(fn, api=api)
    except WeChatClientException as exc:
        if is_transient(exc):
            raise WeChatUnavailable() from exc
        raise
    except OSError as exc:
        raise WeChatUnavailable() from exc


# ----------------------------------------------------------------------------------- face verification


async def start_face_verify(app, *, citizen_id: int, name: str, id_number: str, mobile: str | None = None) -> dict:
    """Check the identity and ask WeChat for a verify_id for wx.requestFacialVerify."""
    cipher, redis, keys = app.ctx.cipher, app.ctx.redis, app.ctx.keys
    name, id_number, mobile = validated_identity(name, id_number, mobile)
    citizen = await service.get_or_raise(citizen_id=citizen_id)
    if not citizen.openid:
        raise _mp_required()
    _refuse_other_id(cipher, citizen, id_number)
    if await _count(redis, keys("face-tries", citizen.id), 86400) > FACE_ATTEMPTS_PER_DAY:
        raise TooManyRequests("今日人脸核身次数已达上限，请明天再试或到窗口办理绑定", code="FACE_VERIFY_LIMIT")
    if not app.ctx.mp.configured:
        raise service.WeChatNotConfigured()
    cert = {"cert_type": "IDENTITY_CARD", "cert_name": name, "cert_no": id_number}
    out_seq_no = "dj" + secrets.token_hex(12)
    body = {"out_seq_no": out_seq_no, "cert_info": cert, "openid": citizen.openid}
    try:
        res = await _wechat(app.ctx.mp, lambda c: c.post(WECHAT_ROOT + "cityservice/face/identify/getverifyid",
                                                          data=body), api="face_getverifyid")
    except WeChatClientException as exc:
        log.warning("getverifyid refused", extra={"fields": {"errcode": exc.errcode}})
        raise FaceVerifyFailed("暂时无法发起人脸核身，请核对姓名和身份证号后重试，或到窗口办理绑定",
                               code="FACE_VERIFY_UNAVAILABLE", status=422) from exc
    verify_id = res["verify_id"]
    session = {"citizen_id": citizen.id, "out_seq_no": out_seq_no, "cert_hash": cert_hash(cert),
               "name": cipher.encrypt(name), "id_number": cipher.encrypt(id_number),
               "mobile": cipher.encrypt(mobile) if mobile else None}
    ttl = min(FACE_SESSION_SECONDS, int(res.get("expires_in") or FACE_SESSION_SECONDS))
    await redis.set(_face_key(app, verify_id), json.dumps(session), ex=ttl)
    return {"verify_id": verify_id, "expires_in": ttl}


def _face_key(app, verify_id: str) -> str:
    return app.ctx.keys("face", hashlib.sha256(verify_id.encode()).hexdigest())


async def bind_with_face(app, *, citizen_id: int, verify_id: str) -> Citizen:
    """Bind the identity of a face verification once WeChat reports verify_ret 10000."""
    cipher, redis = app.ctx.cipher, app.ctx.redis
    key = _face_key(app, verify_id)
    raw = await redis.get(key)
    session = json.loads(raw) if raw else None
    if session is None or session["citizen_id"] != citizen_id:
        raise VerifyIdInvalid()
    citizen = await service.get_or_raise(citizen_id=citizen_id)
    if not citizen.openid:
        raise _mp_required()
    body = {"verify_id": verify_id, "out_seq_no": session["out_seq_no"], "cert_hash": session["cert_hash"],
            "openid": citizen.openid}
    try:
        res = await _wechat(app.ctx.mp, lambda c: c.post(WECHAT_ROOT + "cityservice/face/identify/queryverifyinfo",
                                                          data=body), api="face_queryverifyinfo")
    except WeChatClientException as exc:
        await redis.delete(key)
        log.warning("queryverifyinfo refused", extra={"fields": {"errcode": exc.errcode}})
        raise FaceVerifyFailed() from exc
    ret = res.get("verify_ret")
    if ret != VERIFY_OK:
        await redis.delete(key)
        log.info("face verification not passed", extra={"fields": {"citizen": citizen_id, "verify_ret": ret}})
        if isinstance(ret, int) and ret >= 90000:
            raise FaceVerifyIncomplete()
        raise FaceVerifyFailed()
    if not await redis.delete(key):
        raise VerifyIdInvalid()  # a parallel request used it first: one verification, one binding
    mobile = cipher.decrypt(session["mobile"]) if session["mobile"] else None
    return await bind_verified(app, citizen_id=citizen_id, name=cipher.decrypt(session["name"]),
                               id_number=cipher.decrypt(session["id_number"]), mobile=mobile, method="face")


# ----------------------------------------------------------------------------------- counter codes


async def issue_counter_code(app, *, staff, name: str, id_number: str, mobile: str | None = None,
                             hall_code: str | None = None, ip: str | None = None,
                             request_id: str | None = None) -> dict:
    """Issue a one-time binding code after staff checked the ID card at their hall's counter (audited)."""
    cipher, redis = app.ctx.cipher, app.ctx.redis
    name, id_number, mobile = validated_identity(name, id_number, mobile)
    hall = staff.hall_code
    if hall_code and hall and hall_code != hall:
        raise Forbidden("只能为本大厅窗口核验的市民签发绑定码", code="HALL_FORBIDDEN")
    hall = hall or hall_code
    if staff.role != "admin" and not hall:
        raise Forbidden("账号未分配大厅，不能签发绑定码", code="HALL_REQUIRED")
    payload = json.dumps({"name": cipher.encrypt(name), "id_number": cipher.encrypt(id_number),
                          "mobile": cipher.encrypt(mobile) if mobile else None, "staff_id": staff.id, "hall": hall})
    for _ in range(5):
        code = f"{secrets.randbelow(10**8):08d}"
        if await redis.set(app.ctx.keys("bindcode", code), payload, ex=CODE_TTL_SECONDS, nx=True):
            break
    else:  # pragma: no cover - 10^8 codes, ten minutes each
        raise AppError("暂时无法签发绑定码，请重试", code="BINDING_CODE_BUSY", status=503)
    await AuditLog.create(actor_kind="staff", actor_id=str(staff.id), action="identity.binding_code.issue",
                          target_type="id_number", target_id=service.id_hash(cipher, id_number)[:32],
                          fields_read=["name", "id_number"] + (["mobile"] if mobile else []), ip=ip,
                          request_id=request_id)
    return {"binding_code": code, "expires_in": CODE_TTL_SECONDS, "hall": hall,
            "name": v.mask_name(name), "id_number": v.mask_id(id_number)}


async def bind_with_counter_code(app, *, citizen_id: int, binding_code: str) -> Citizen:
    """Bind the identity staff checked at the counter; each code works once, for ten minutes."""
    redis, keys, cipher = app.ctx.redis, app.ctx.keys, app.ctx.cipher
    code = "".join(ch for ch in v._nfkc(binding_code or "") if not ch.isspace())
    await service.get_or_raise(citizen_id=citizen_id)
    if await _count(redis, keys("bindcode-tries", citizen_id), CODE_TTL_SECONDS) > CODE_ATTEMPTS:
        raise TooManyRequests("绑定码输错次数过多，请 10 分钟后再试", code="BINDING_CODE_LIMIT")
    if not (len(code) == 8 and code.isdigit()):
        raise BindingCodeInvalid()
    raw = await redis.getdel(keys("bindcode", code))
    if raw is None:
        raise BindingCodeInvalid()
    data = json.loads(raw)
    mobile = cipher.decrypt(data["mobile"]) if data["mobile"] else None
    return await bind_verified(app, citizen_id=citizen_id, name=cipher.decrypt(data["name"]),
                               id_number=cipher.decrypt(data["id_number"]), mobile=mobile, method="counter")


# ----------------------------------------------------------------------------------- the binding itself


async def bind_verified(app, *, citizen_id: int, name: str, id_number: str, mobile: str | None,
                        method: str) -> Citizen:
    """Bind a proven identity to a citizen, taking the ID number over from any other account."""
    cipher = app.ctx.cipher
    digest = service.id_hash(cipher, id_number)
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        citizen = await Citizen.filter(id=citizen_id).using_db(conn).select_for_update().first()
        if citizen is None:
            raise NotFound("用户不存在", code="CITIZEN_NOT_FOUND")
        _refuse_other_id(cipher, citizen, id_number)
        cleared = {f: None for f in ("name_enc", "id_number_enc", "id_hash", "id_last6_hash", "mobile_enc",
                                     "mobile_hash", "bound_at", "verified_by", "verified_at", "claimed_id_hash")}
        # The other holders of this ID number: an unverified claim, or an earlier account of the same person.
        displaced = await (Citizen.filter(id_hash=digest).using_db(conn).exclude(id=citizen.id)
                           .update(**cleared))
        displaced += await (Citizen.filter(claimed_id_hash=digest).using_db(conn).exclude(id=citizen.id)
                            .update(**cleared))
        citizen.name_enc = cipher.encrypt(name)
        citizen.id_number_enc = cipher.encrypt(id_number)
        citizen.id_hash = digest
        citizen.claimed_id_hash = None
        citizen.id_last6_hash = cipher.digest(v.id_last6(id_number), purpose="id6")
        if mobile:
            citizen.mobile_enc = cipher.encrypt(mobile)
            citizen.mobile_hash = cipher.digest(mobile, purpose="mobile")
        citizen.bound_at = citizen.bound_at if citizen.verified_by else now
        citizen.verified_by, citizen.verified_at = method, now
        await citizen.save(using_db=conn)
    if displaced:
        log.warning("verified binding displaced another account", extra={"fields": {
            "citizen": citizen.id, "method": method, "displaced": displaced}})
    return citizen


def refuse_self_declared() -> AppError:
    return Unprocessable("实名绑定须经本人验证：请先调用人脸核身（POST /api/mp/binding/verify），"
                         "再以返回的 verify_id 提交；无法人脸核身的，可到登记大厅窗口获取绑定码。",
                         code="SELF_DECLARED_BINDING_REFUSED")
