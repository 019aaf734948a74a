"""Public-account web authorisation (网页授权): pages opened in WeChat log in, linked to the person's other apps.

https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html

``authorize_url`` stores a random ``state`` (with the page to return to) in Redis for five minutes and sends the
user to WeChat; WeChat comes back to ``/api/oa/oauth/callback?code=&state=``; ``login`` takes the state
(GETDEL: one use) and exchanges the code at ``sns/oauth2/access_token`` for the public-account openid.

Two rounds at most. The first asks snsapi_base (silent): its answer has no unionid ("只有当scope为
snsapi_userinfo时返回", https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html),
so cgi-bin/user/info is asked — which tells a follower's unionid but nothing of a non-follower ("subscribe 值为0时
…拉取不到其余信息"). A non-follower with no stored link is then signed in unlinked and sent once more, with
snsapi_userinfo: WeChat shows its consent page ("这种授权需要用户手动同意…无须依赖用户关注服务号"), and the code
it gives carries the unionid in the access_token answer (or, failing that, in sns/userinfo with the user's own
token, https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo.html); the person is then
linked by unionid. A refusal comes back without a code (the old document: redirect_uri?state=STATE) or not at
all (WeChat cannot tell the page): either way the person stays signed in unlinked from the first round.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from wechatpy.exceptions import WeChatClientException

from models import Citizen
from server.core.errors import AppError
from server.identity import service

STATE_TTL_SECONDS = 300
# Only our own citizen pages: a path under /h5/, no scheme, no host, no backslash tricks. The query may hold
# "/" and ":" (a page's own ?next=/h5/… or a slot's start=09:00): after a path that is ours they cannot leave it.
_NEXT_RE = re.compile(r"^/h5(/[A-Za-z0-9_\-./%]*)?(\?[A-Za-z0-9_\-.=&%/:]*)?$")


class OAuthStateInvalid(AppError):
    status, code, message = 400, "OAUTH_STATE_INVALID", "登录链接已失效，请从公众号菜单重新打开页面"


class OAuthCodeInvalid(AppError):
    status, code, message = 401, "OAUTH_CODE_INVALID", "微信授权已失效，请从公众号菜单重新打开页面"


class OANotConfigured(AppError):
    status, code = 503, "WECHAT_NOT_CONFIGURED"
    message = "未配置公众号 AppID（DENGJI_WECHAT_APPID、DENGJI_WECHAT_SECRET），无法用公众号网页授权登录"


def safe_next(next_path: str | None) -> str | None:
    """The page to return to, only when it is one of our /h5/ pages."""
    if not next_path:
        return None
    if not _NEXT_RE.match(next_path) or "//" in next_path or ".." in next_path:
        raise AppError("跳转地址无效，只能返回本站的公众号页面", code="OAUTH_NEXT_INVALID", status=422)
    return next_path


BASE, USERINFO = "snsapi_base", "snsapi_userinfo"


@dataclass
class Login:
    """The outcome of a callback: who is signed in, where to go, and whether to ask WeChat once more."""

    citizen: Citizen | None
    next_path: str | None
    escalate: bool = False  # snsapi_base gave no unionid WeChat will tell: ask snsapi_userinfo once
    declined: bool = False  # the snsapi_userinfo round came back without a code
    expected_citizen: int | None = None  # second round: the citizen the first round signed in (in this browser)


async def authorize_url(app, *, next_path: str | None, callback_url: str, scope: str = BASE,
                        citizen_id: int | None = None) -> str:
    """Remember a one-time state and return WeChat's authorise URL for ``scope``."""
    settings = app.ctx.settings
    if not app.ctx.wechat.configured:
        raise OANotConfigured()
    state = secrets.token_urlsafe(18)
    record = {"next": safe_next(next_path), "scope": scope, "citizen": citizen_id}
    await app.ctx.redis.set(app.ctx.keys("oauth-state", state), json.dumps(record), ex=STATE_TTL_SECONDS)
    query = urlencode({"appid": settings.wechat_appid, "redirect_uri": callback_url, "response_type": "code",
                       "scope": scope, "state": state}, quote_via=quote)
    return f"{settings.wechat_oauth_base.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"


async def login(app, *, code: str | None, state: str) -> Login:
    """Check the state, exchange the code for the public-account openid and link it; see the module's doc."""
    raw = await app.ctx.redis.getdel(app.ctx.keys("oauth-state", state)) if state else None
    if raw is None:
        raise OAuthStateInvalid()
    record = json.loads(raw)
    next_path, scope = record.get("next"), record.get("scope", BASE)
    if not code:
        if scope == USERINFO:  # refused on WeChat's consent page
            return Login(None, next_path, declined=True, expected_citizen=record.get("citizen"))
        raise OAuthCodeInvalid()
    gateway = app.ctx.wechat
    if not gateway.configured:
        raise OANotConfigured()
    client = gateway.client

    def get(path: str, params: dict) -> dict:
        res = client._http.get(client.api_root + path, timeout=client.timeout, params=params)
        res.raise_for_status()
        data = res.json()
        if data.get("errcode"):
            raise WeChatClientException(data["errcode"], data.get("errmsg"), client=client, response=res)
        return data

    data = await service.exchange_code(gateway, lambda _c: get("sns/oauth2/access_token", {
        "appid": client.appid, "secret": client.secret, "code": code, "grant_type": "authorization_code"}),
        api="oauth2_access_token", failed=OAuthCodeInvalid)
    openid = data.get("openid")
    if not openid:
        raise OAuthCodeInvalid()
    unionid = data.get("unionid")
    if scope == USERINFO:
        if not unionid and data.get("scope") == USERINFO and data.get("access_token"):
            # Some answers carry the unionid only in sns/userinfo (the user's own token): ask it; never the
            # nickname or photo, which we do not keep.
            try:
                info = await service.exchange_code(gateway, lambda _c: get("sns/userinfo", {
                    "access_token": data["access_token"], "openid": openid, "lang": "zh_CN"}),
                    api="sns_userinfo", failed=OAuthCodeInvalid)
                unionid = info.get("unionid")
            except AppError:
                unionid = None  # signed in unlinked, as after a refusal
        citizen = await service.link(app_field=service.OA, openid=openid, unionid=unionid)
        # One escalation only: whatever came back, no third round.
        return Login(citizen, next_path, expected_citizen=record.get("citizen"))
    subscribed = None
    if not unionid:
        unionid, subscribed = await service.oa_user_info(app, openid=openid)
    citizen = await service.link(app_field=service.OA, openid=openid, unionid=unionid)
    # Escalate only when WeChat said "does not follow" (so user/info will never tell) and nothing is linked yet:
    # a follower's row has its unionid, and a passing fault of user/info is no reason to show a consent page.
    return Login(citizen, next_path, escalate=subscribed is False and not citizen.unionid)
