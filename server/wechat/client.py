"""The one WeChat client layer every feature uses.

wechatpy is synchronous (requests), so every call runs in a thread pool, never on the event loop.
The access token comes from the stable-token API, is shared by all workers through Redis, and is
refreshed under a Redis lock; a call failing with an expired-token code is retried once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis.asyncio as aioredis
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from server.core.errors import AppError
from server.core.metrics import WECHAT_CALLS
from server.core.redis import Keys

log = logging.getLogger("dengji.wechat")

T = TypeVar("T")
WECHAT_ROOT = "https://api.weixin.qq.com/"
# invalid credential, invalid access_token, access_token expired
EXPIRED_TOKEN_CODES = frozenset({40001, 40014, 42001})
# system busy, API frequency limit, and network failures (no errcode) are worth retrying later
TRANSIENT_CODES = frozenset({-1, 45009, 45011})
# Customer-service messages reach a user only inside the reply window their own action opened (客服消息:
# a message of theirs opens 48 hours for 5 messages since 2023-06-12, a menu click, follow or QR scan 1 minute
# for 3; https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage.html).
# Outside it WeChat answers one of these, and no retry helps until the user writes again.
REPLY_WINDOW_CODES = {
    45015: "超过客服消息回复时限（用户 48 小时内未发消息，或已取消关注）",  # response out of time limit
    45047: "客服消息条数已达上限（须等用户再次发消息）",  # out of response count limit
}

# The token a wechatpy call in a worker thread should use; set per call, so one client serves all threads.
_current_token: contextvars.ContextVar[str] = contextvars.ContextVar("wechat_token", default="")


class WeChatUnavailable(AppError):
    status, code, message = 503, "WECHAT_UNAVAILABLE", "微信服务暂时不可用，请稍后再试"


def is_transient(exc: BaseException) -> bool:
    """Tell whether a failed WeChat call may succeed if tried again later."""
    if isinstance(exc, WeChatClientException):
        return exc.errcode is None or exc.errcode in TRANSIENT_CODES or exc.errcode in EXPIRED_TOKEN_CODES
    return isinstance(exc, OSError | TimeoutError)


def outside_reply_window(exc: BaseException) -> bool:
    """Tell whether WeChat refused a customer-service message because the user's reply window is closed or used up."""
    return isinstance(exc, WeChatClientException) and exc.errcode in REPLY_WINDOW_CODES


class DengjiWeChatClient(WeChatClient):
    """wechatpy client whose API root is configurable and whose token is supplied per call."""

    def __init__(self, appid: str, secret: str, *, api_base: str, timeout: float, pool: int) -> None:
        super().__init__(appid, secret, session=MemoryStorage(), timeout=timeout, auto_retry=False)
        self.api_root = api_base
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    @property
    def access_token(self) -> str:  # type: ignore[override]
        return _current_token.get()

    def _request(self, method, url_or_endpoint, **kwargs):  # noqa: ANN001
        # wechatpy's API groups hard-code api.weixin.qq.com; send them to the configured root instead.
        if not url_or_endpoint.startswith(("http://", "https://")):
            url_or_endpoint = kwargs.pop("api_base_url", self.API_BASE_URL) + url_or_endpoint
        if url_or_endpoint.startswith(WECHAT_ROOT):
            url_or_endpoint = self.api_root + url_or_endpoint[len(WECHAT_ROOT):]
        return super()._request(method, url_or_endpoint, **kwargs)

    def fetch_stable_token(self, force_refresh: bool = False) -> dict[str, Any]:
        """Call the stable-token API, which hands every caller the same token until it expires."""
        res = self._http.post(
            self.api_root + "cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                  "force_refresh": force_refresh},
            timeout=self.timeout,
        )
        res.raise_for_status()
        data = res.json()
        if data.get("errcode"):
            raise WeChatClientException(data["errcode"], data.get("errmsg"), client=self, response=res)
        return data


class WeChatGateway:
    """Async facade: token management in Redis, sync wechatpy calls in a thread pool."""

    def __init__(self, *, name: str, appid: str, secret: str, api_base: str, timeout: float,
                 redis: aioredis.Redis, keys: Keys, threads: int = 16) -> None:
        self.name = name
        self.appid = appid
        self.client = DengjiWeChatClient(appid, secret, api_base=api_base, timeout=timeout, pool=threads)
        self._redis = redis
        self._token_key = keys("wechat", "token", appid)
        self._lock_key = keys("wechat", "token-lock", appid)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"wechat-{name}")

    @property
    def configured(self) -> bool:
        return bool(self.appid and self.client.secret)

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, ctx.run, fn)

    async def token(self, *, stale: str | None = None) -> str:
        """Return a valid access token, fetching one under a lock when absent or known to be stale."""
        current = await self._redis.get(self._token_key)
        if current and current != stale:
            return current
        async with self._redis.lock(self._lock_key, timeout=15, blocking_timeout=15):
            current = await self._redis.get(self._token_key)
            if current and current != stale:
                return current  # another worker refreshed it while we waited
            data = await self._in_thread(lambda: self.client.fetch_stable_token(force_refresh=stale is not None))
            token = data["access_token"]
            # Keep a margin so no worker uses a token in its last minutes.
            ttl = max(60, int(data.get("expires_in", 7200)) - 300)
            await self._redis.set(self._token_key, token, ex=ttl)
            WECHAT_CALLS.labels("stable_token", "ok").inc()
            return token

    async def call(self, fn: Callable[[DengjiWeChatClient], T], *, api: str = "call") -> T:
        """Run fn(client) off the event loop with a valid token; retry once on an expired token."""
        token = await self.token()
        try:
            result = await self._with_token(fn, token)
        except WeChatClientException as exc:
            if exc.errcode not in EXPIRED_TOKEN_CODES:
                WECHAT_CALLS.labels(api, "error").inc()
                raise
            log.info("wechat token rejected, refreshing", extra={"fields": {"api": api, "errcode": exc.errcode}})
            token = await self.token(stale=token)
            try:
                result = await self._with_token(fn, token)
            except WeChatClientException:
                WECHAT_CALLS.labels(api, "error").inc()
                raise
        WECHAT_CALLS.labels(api, "ok").inc()
        return result

    async def call_without_token(self, fn: Callable[[DengjiWeChatClient], T], *, api: str = "call") -> T:
        """Run an API that authenticates by app secret (e.g. jscode2session) off the event loop."""
        try:
            result = await self._in_thread(lambda: fn(self.client))
        except WeChatClientException:
            WECHAT_CALLS.labels(api, "error").inc()
            raise
        WECHAT_CALLS.labels(api, "ok").inc()
        return result

    async def _with_token(self, fn: Callable[[DengjiWeChatClient], T], token: str) -> T:
        def run() -> T:
            _current_token.set(token)
            return fn(self.client)

        return await self._in_thread(run)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.client._http.close()
