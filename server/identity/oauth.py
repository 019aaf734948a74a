"""Public-account web authorisation (网页授权, scope snsapi_base): pages opened from the account's menu log in.

https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html

``authorize_url`` stores a random ``state`` (with the page to return to) in Redis for five minutes and sends the
user to WeChat; WeChat comes back to ``/api/oa/oauth/callback?code=&state=``; ``login`` takes the state
(GETDEL: one use), exchanges the code at ``sns/oauth2/access_token`` for the public-account openid and links it
to the person (cgi-bin/user/info gives the unionid; snsapi_base itself does not).
"""

from __future__ import annotations

import json
import re
import secrets
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


async def authorize_url(app, *, next_path: str | None, callback_url: str) -> str:
    """Remember a one-time state and return WeChat's authorise URL for snsapi_base."""
    settings = app.ctx.settings
    if not app.ctx.wechat.configured:
        raise OANotConfigured()
    state = secrets.token_urlsafe(18)
    await app.ctx.redis.set(app.ctx.keys("oauth-state", state), json.dumps({"next": safe_next(next_path)}),
                            ex=STATE_TTL_SECONDS)
    query = urlencode({"appid": settings.wechat_appid, "redirect_uri": callback_url, "response_type": "code",
                       "scope": "snsapi_base", "state": state}, quote_via=quote)
    return f"{settings.wechat_oauth_base.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"


async def login(app, *, code: str, state: str) -> tuple[Citizen, str | None]:
    """Check the state, exchange the code for the public-account openid, return (citizen, next page)."""
    raw = await app.ctx.redis.getdel(app.ctx.keys("oauth-state", state)) if state else None
    if raw is None:
        raise OAuthStateInvalid()
    next_path = json.loads(raw).get("next")
    gateway = app.ctx.wechat
    if not gateway.configured:
        raise OANotConfigured()
    client = gateway.client

    def exchange() -> dict:
        res = client._http.get(client.api_root + "sns/oauth2/access_token", timeout=client.timeout, params={
            "appid": client.appid, "secret": client.secret, "code": code, "grant_type": "authorization_code"})
        res.raise_for_status()
        data = res.json()
        if data.get("errcode"):
            raise WeChatClientException(data["errcode"], data.get("errmsg"), client=client, response=res)
        return data

    data = await service.exchange_code(gateway, lambda _c: exchange(), api="oauth2_access_token",
                                       failed=OAuthCodeInvalid)
    openid = data.get("openid")
    if not openid:
        raise OAuthCodeInvalid()
    citizen = await service.link_oa_openid(app, openid=openid, unionid=data.get("unionid"))
    return citizen, next_path
