"""A fake WeChat API server speaking real HTTP on 127.0.0.1.

Tests and benchmarks point our client at ``fake.base_url`` instead of
``https://api.weixin.qq.com/``; request paths are exactly WeChat's.

    with FakeWeChat() as fake:
        requests.post(fake.base_url + "cgi-bin/stable_token", json={...})
        fake.fail_next("cgi-bin/message/subscribe/send", 45009)
        assert fake.sent("subscribe")[0]["touser"] == openid

Every public attribute and method is safe to use from the test thread while
the server threads are handling requests (one lock guards all state).

The fake is as strict as WeChat where WeChat publishes a rule (see the section
"WeChat's published rules" near the end of the class): a token only works on its
own app's APIs, login codes are single use, subscribe messages need the user's
consent and follow the template's field rules, template messages go to followers
only, customer-service messages only within the user's reply window. Tests say
what the user did with ``accept_subscription``, ``follow``, ``user_message``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["Call", "FakeWeChat", "ERRMSG", "Person"]

# Real WeChat error messages, so logs from the fake look like production ones.
ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    40016: "invalid button size",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40017: "invalid button type",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}

SEND_KINDS = ("subscribe", "template", "custom")

# WeChat's consent page for snsapi_userinfo (its text, much shortened): 允许 sends the browser back with a code.
CONSENT_PAGE = ("<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>微信授权</title>"
                "<p>申请获取你的昵称、头像</p>"
                "<a id=\"allow\" href=\"/connect/oauth2/consent?ticket={ticket}&allow=1\">允许</a> "
                "<a id=\"deny\" href=\"/connect/oauth2/consent?ticket={ticket}&allow=0\">拒绝</a></html>")


# ----------------------------------------------------------- subscribe-message field rules
# WeChat's "订阅消息参数值内容限制说明" (subscribeMessage.send,
# https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html):
# a field's type is its key without the trailing number (thing1 -> thing); a value breaking its type's rule
# answers 47003 "argument invalid! data.<key>.value invalid". No value may hold control characters (line breaks).
# Dates: y年m月d日, y年m月, m月d日, or joined by "-", "/", "."; times: HH:MM or HH:MM:SS; a period joins two with "~".
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_DATE = (r"(?:\d{4}年\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日"
         r"|\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2})")
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_TIME_POINT = rf"(?:{_DATE}\s?)?{_CLOCK}"
_DATE_POINT = rf"{_DATE}(?:\s?{_CLOCK})?"


def _matches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda v: compiled.fullmatch(v) is not None


def _time_or_date(point: str) -> Callable[[str], bool]:
    side = re.compile(point)
    clock = re.compile(_CLOCK)

    def check(v: str) -> bool:
        first, sep, second = v.partition("~")
        if not side.fullmatch(first.strip()):
            return False
        return not sep or bool(side.fullmatch(second.strip()) or clock.fullmatch(second.strip()))

    return check


def _name(v: str) -> bool:
    if re.search(f"[{_HAN}]", v):
        return len(v) <= 10  # Chinese, or Chinese mixed with letters: at most 10 characters
    return len(v) <= 20 and re.fullmatch(r"[A-Za-z\s\W]+", v) is not None and not re.search(r"\d", v)


_FIELD_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: len(v) <= 20,  # 20 个以内字符，可汉字、数字、字母或符号组合
    "number": _matches(r"\d{1,32}(?:\.\d+)?"),  # 32 位以内数字，可带小数
    "letter": _matches(r"[A-Za-z]{1,32}"),  # 32 位以内字母
    "symbol": _matches(rf"[^\w\s{_HAN}]{{1,5}}"),  # 5 位以内符号
    "character_string": lambda v: len(v) <= 32 and not re.search(f"[{_HAN}\\s]", v),  # 数字、字母或符号
    "time": _time_or_date(_TIME_POINT),  # 24 小时制时间（可带年月日），例如 15:01、2019年10月1日 15:01
    "date": _time_or_date(_DATE_POINT),  # 年月日（可带时间），例如 2019年10月1日、2019年10月1日 15:01
    "amount": _matches(r"[¥￥$€£]?\d{1,10}(?:\.\d+)?元?"),  # 1 个币种符号 + 10 位以内纯数字，可带小数，可以“元”结尾
    "phone_number": _matches(r"[\d+\-() ]{1,17}"),  # 17 位以内，数字、符号
    "car_number": lambda v: len(v) <= 8 and re.fullmatch(rf"[{_HAN}]?[A-Za-z0-9]+[{_HAN}]?", v) is not None,
    "name": _name,  # 10 个以内纯汉字或 20 个以内纯字母或符号
    "phrase": _matches(rf"[{_HAN}]{{1,5}}"),  # 5 个以内纯汉字，例如：配送中
    "enum": lambda v: True,  # 枚举值：范围在模板里，我们不建模
}


@dataclass(frozen=True)
class Call:
    """One request the fake received (recorded whatever the outcome)."""

    method: str
    path: str  # without leading slash, e.g. "cgi-bin/message/subscribe/send"
    query: dict[str, str]
    json: Any  # parsed body, or None for an empty / non-JSON body
    time: float  # time.time() when the request arrived
    status: int = 200  # HTTP status returned
    errcode: int = 0  # WeChat errcode returned (0 on success)
    appid: str | None = None  # app owning the access_token, if one was valid


@dataclass
class _Token:
    appid: str
    expires_at: float  # time.monotonic()
    stable: bool


class _WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str | None = None, status: int = 200):
        super().__init__(errcode)
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")
        self.status = status


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw_body: bytes
    appid: str | None = None  # filled in once the access_token is checked
    deduped: bool = False  # a template send WeChat answered but did not deliver again (client_msg_id)


@dataclass
class _Route:
    methods: tuple[str, ...]
    handler: Callable[[_Request], dict]
    needs_token: bool
    kind: str | None = None  # for message-sending routes


class FakeWeChat:
    """Fake api.weixin.qq.com. ``start()``/``stop()`` or use as a context manager."""

    DEFAULT_APPID = "wx-test-appid"
    DEFAULT_SECRET = "wx-test-secret"
    DEFAULT_MP_APPID = "wx-test-mp-appid"
    DEFAULT_MP_SECRET = "wx-test-mp-secret"

    def __init__(
        self,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        *,
        mp_appid: str | None = DEFAULT_MP_APPID,
        mp_secret: str | None = DEFAULT_MP_SECRET,
        apps: dict[str, str] | None = None,
        token_ttl: float = 7200,
    ) -> None:
        # appid -> secret for every app (official account + mini-program) we accept.
        self.apps: dict[str, str] = {appid: secret}
        if mp_appid:
            if not mp_secret:
                raise ValueError("mp_appid needs mp_secret")
            self.apps[mp_appid] = mp_secret
        if apps:
            self.apps.update(apps)
        self.appid, self.secret = appid, secret
        self.mp_appid, self.mp_secret = mp_appid, mp_secret
        self.token_ttl = token_ttl

        self._lock = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()
        self._reset_state()

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._sent: dict[str, list[dict]] = {k: [] for k in SEND_KINDS}
        self._tokens: dict[str, _Token] = {}
        # Tokens no longer valid -> errcode to answer with (40001 or 42001).
        self._dead_tokens: dict[str, int] = {}
        self._stable: dict[str, str] = {}  # appid -> current stable token
        self._failures: dict[str, deque] = {}
        self._rate_window: deque[float] = deque()
        self._used_codes: set[str] = set()
        self._msgids = itertools.count(3_000_000_001)
        self._token_seq = itertools.count(1)
        self.token_fetches = 0  # successful calls to either token endpoint
        self.tokens_issued = 0  # distinct tokens handed out
        self.invalid_codes: set[str] = {"invalid"}
        self.code_openids: dict[str, str] = {}  # pin a js_code to a given openid
        self.used_codes_fail = True  # a login code works once, then 40163 (WeChat's rule; False only to bench)
        self.fail_openids: dict[str, int] = {}  # openid -> errcode on every send
        self.users: dict[str, dict] = {}  # openid -> overrides for user/info
        self.menu: dict | None = None
        self.qrcodes: list[dict] = []
        self.rate_limit_per_second: float | None = None
        self.latency: float = 0.0
        # Template sends: (touser, client_msg_id) -> (time.monotonic(), msgid) of the delivered one.
        self._client_msg_ids: dict[tuple[str, str], tuple[float, int]] = {}
        self.client_msg_id_window: float = 600.0  # WeChat sends one message per id within 10 minutes
        self.deduped = 0  # template sends answered ok but not delivered again
        self._reset_identity()
        self._reset_rules_state()

    def reset(self) -> None:
        """Forget everything (calls, tokens, injected failures, knobs); server keeps running."""
        with self._lock:
            self._reset_state()
            self._lock.notify_all()

    # ---------------------------------------------------------------- server

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def connections(self) -> int:
        """TCP connections accepted since start(); shows whether clients keep-alive."""
        return self._server.connections_accepted if self._server else 0

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def start(self) -> FakeWeChat:
        if self._server is not None:
            raise RuntimeError("FakeWeChat already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakewechat-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------- control / inspect

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, path: str) -> list[Call]:
        path = path.lstrip("/")
        with self._lock:
            return [c for c in self._calls if c.path == path]

    def sent(self, kind: str, *, touser: str | None = None) -> list[dict]:
        """Bodies of messages WeChat accepted, kind in subscribe/template/custom."""
        if kind not in SEND_KINDS:
            raise ValueError(f"kind must be one of {SEND_KINDS}, not {kind!r}")
        with self._lock:
            bodies = list(self._sent[kind])
        if touser is not None:
            bodies = [b for b in bodies if b.get("touser") == touser]
        return bodies

    def wait_sent(self, kind: str, count: int, timeout: float = 5.0) -> list[dict]:
        """Block until at least ``count`` messages of ``kind`` were accepted.

        For code that sends from a background worker; raises TimeoutError.
        """
        if kind not in SEND_KINDS:
            raise ValueError(f"kind must be one of {SEND_KINDS}, not {kind!r}")
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._sent[kind]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._sent[kind])} {kind} messages sent, expected {count}")
                self._lock.wait(left)
            return list(self._sent[kind])

    def expire_tokens(self, appid: str | None = None) -> None:
        """Expire every live token (of ``appid``): later use answers 42001."""
        with self._lock:
            for tok, info in list(self._tokens.items()):
                if appid is None or info.appid == appid:
                    del self._tokens[tok]
                    self._dead_tokens[tok] = 42001
            for app in list(self._stable):
                if appid is None or app == appid:
                    del self._stable[app]

    def fail_next(
        self,
        path: str,
        errcode: int,
        times: int = 1,
        errmsg: str | None = None,
        *,
        status: int = 200,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with a WeChat error.

        Applies before any token check, so e.g. 42001 can be injected while the
        token is actually fine. ``status`` != 200 simulates a gateway failure.
        """
        path = path.lstrip("/")
        with self._lock:
            q = self._failures.setdefault(path, deque())
            for _ in range(times):
                q.append(_WeChatError(errcode, errmsg, status))

    def issue_token(self, appid: str | None = None) -> str:
        """Create a valid access token directly (no HTTP, not counted as a fetch)."""
        appid = appid or self.appid
        with self._lock:
            return self._new_token(appid, stable=False)

    @staticmethod
    def openid_for(code: str) -> str:
        """The mini-program openid jscode2session returns for a plain ``code`` (28 chars like real ones).

        A plain code (not made by ``Person``/``code_for``) stands for a person of its own; see IDENTITY below.
        """
        return "o" + hashlib.sha1(code.encode()).hexdigest()[:27]

    @staticmethod
    def session_key_for(code: str) -> str:
        # Real session keys are base64 of 16 random bytes.
        return base64.b64encode(hashlib.md5(("sk:" + code).encode()).digest()).decode()

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, method: str, target: str, raw_body: bytes) -> tuple[int, dict]:
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(target)
        path = parts.path.lstrip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body: Any = None
        body_error = False
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except ValueError:
                body_error = True
        req = _Request(method, path, query, body, raw_body)

        with self._lock:
            try:
                result = self._handle(req, body_error)
                status, errcode = 200, int(result.get("errcode", 0))
            except _WeChatError as e:
                status, errcode = e.status, e.errcode
                result = {"errcode": e.errcode, "errmsg": e.errmsg}
            except Exception as e:  # a bug in the fake: answer, don't drop the socket
                status, errcode = 500, -1
                result = {"errcode": -1, "errmsg": f"fake wechat crashed: {e!r}"}
            self._calls.append(Call(method, path, query, body, time.time(), status, errcode, req.appid))
        return status, result

    def _handle(self, req: _Request, body_error: bool) -> dict:
        # Caller holds the lock.
        route = self._routes.get(req.path)
        if route is None:
            raise _WeChatError(-1, f"unknown path /{req.path}", status=404)
        if req.method not in route.methods:
            raise _WeChatError(43002 if "POST" in route.methods else 43001)
        failures = self._failures.get(req.path)
        if failures:
            raise failures.popleft()
        if body_error:
            raise _WeChatError(47001)
        if route.needs_token:
            self._check_token(req)
            self._check_api_owner(req)
            self._check_rate_limit()
            self._check_daily_quota(req)
        result = route.handler(req)
        if route.kind is not None and not req.deduped:
            self._sent[route.kind].append(req.body)
            self._lock.notify_all()
        return result

    def _check_token(self, req: _Request) -> None:
        token = req.query.get("access_token")
        if not token:
            raise _WeChatError(41001)
        info = self._tokens.get(token)
        if info is None:
            raise _WeChatError(self._dead_tokens.get(token, 40001))
        if time.monotonic() >= info.expires_at:
            del self._tokens[token]
            self._dead_tokens[token] = 42001
            if self._stable.get(info.appid) == token:
                del self._stable[info.appid]
            raise _WeChatError(42001)
        req.appid = info.appid

    def _check_rate_limit(self) -> None:
        limit = self.rate_limit_per_second
        if not limit:
            return
        now = time.monotonic()
        window = self._rate_window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            raise _WeChatError(45011)  # the frequency limit; 45009 is the daily quota (_check_daily_quota)
        window.append(now)

    def _new_token(self, appid: str, *, stable: bool) -> str:
        token = f"FAKE_{next(self._token_seq)}_{secrets.token_urlsafe(24)}"
        self._tokens[token] = _Token(appid, time.monotonic() + self.token_ttl, stable)
        self.tokens_issued += 1
        return token

    def _check_app(self, appid: str | None, secret: str | None, bad_secret: int) -> None:
        if not appid:
            raise _WeChatError(41002)
        if appid not in self.apps:
            raise _WeChatError(40013)
        if not secret:
            raise _WeChatError(41004)
        if not secrets.compare_digest(self.apps[appid], secret):
            raise _WeChatError(bad_secret)

    def _expires_in(self, token: str) -> int:
        left = self._tokens[token].expires_at - time.monotonic()
        return max(1, int(left + 0.999))

    def _body(self, req: _Request) -> dict:
        if req.body is None:
            raise _WeChatError(44002)
        if not isinstance(req.body, dict):
            raise _WeChatError(47001)
        return req.body

    def _check_openid(self, openid: Any, req: _Request | None = None) -> None:
        if not isinstance(openid, str) or not openid:
            raise _WeChatError(40003)
        if req is not None:
            self._check_openid_app(openid, req)
        if openid in self.fail_openids:
            raise _WeChatError(self.fail_openids[openid])

    # ================================================================ IDENTITY (issue 9)
    # People, not codes: one person has a different openid in every app (public account = ``appid``,
    # mini-program = ``mp_appid``) and one unionid across them, as on a real open-platform account
    # (https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/union-id.html). A send or API
    # call with an openid the fake knows to belong to another app is refused with 40003, like WeChat does.
    # Hand-written openids the fake never issued are still accepted (older tests use them).

    def _reset_identity(self) -> None:
        self._people: dict[str, dict] = {}  # person key -> {"name", "id_number"}
        self._openid_owner: dict[str, tuple[str, str]] = {}  # openid -> (appid, person key)
        self._verify: dict[str, dict] = {}  # verify_id -> getverifyid session
        self._out_seq_nos: set[tuple[str, str]] = set()
        # Who does a face verification instead of the openid's own person: openid -> Person, or a verify_ret.
        self.face_doers: dict[str, Person | int] = {}
        # The WeChat user of the phone that opens a web-authorisation link (see authorize_page).
        self.web_user: Person | None = None
        self.web_entry = "menu"  # how web_user opens the page: "menu" (the account's menu) or "link"
        self.decline_redirects = False  # see authorize_page
        self._consent_tickets: dict[str, tuple[Person, str, str, str]] = {}
        self._web_tokens: dict[str, tuple[str, str, str, float]] = {}  # token -> (appid, openid, scope, expiry)

    def person(self, name: str | None = None, id_number: str | None = None, *, key: str | None = None) -> Person:
        """Create a WeChat user (with a real name and ID when given) known to every app of this fake."""
        key = key or "p" + secrets.token_hex(8)
        with self._lock:
            self._remember_person(key, name, id_number)
        return Person(self, key, name, id_number)

    @staticmethod
    def code_for(key: str, *, name: str | None = None, id_number: str | None = None,
                 appid: str | None = None, scope: str = "snsapi_base") -> str:
        """A fresh login code of person ``key`` (with its real name and ID), for one app or any app.

        Real codes are opaque and single-use; these carry the person so that helpers without a handle on
        the fake (tests/factories.py) can log a given person in. Each call gives a new code.
        """
        tag = "" if appid is None else "m" if appid == FakeWeChat.DEFAULT_MP_APPID else "o" \
            if appid == FakeWeChat.DEFAULT_APPID else appid
        # The web-authorisation scope the user granted rides along ("u": snsapi_userinfo), as WeChat remembers it.
        parts = (key, name or "", id_number or "", tag) + (("u",) if scope == "snsapi_userinfo" else ())
        payload = "\x1f".join(parts).encode()
        # Kept short: a real code is 32 characters and our API takes at most 128.
        return "p1." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + secrets.token_hex(2)

    def openid_in(self, appid: str, key: str) -> str:
        """The openid person ``key`` has in app ``appid``."""
        if appid == self.mp_appid:
            return self.openid_for(key)  # the plain-code formula, so openid_for(code) stays the MP openid
        return "o" + hashlib.sha1(f"{appid}:{key}".encode()).hexdigest()[:27]

    @staticmethod
    def _unionid_of_key(key: str) -> str:
        return "u" + hashlib.sha1(("union:" + key).encode()).hexdigest()[:27]

    def unionid_for(self, openid: str) -> str:
        """The unionid of the person behind ``openid`` (any app)."""
        with self._lock:
            owner = self._openid_owner.get(openid)
        return self._unionid_of_key(owner[1] if owner else openid)

    def owner_of(self, openid: str) -> tuple[str, str] | None:
        """(appid, person key) of an openid the fake issued, else None."""
        with self._lock:
            return self._openid_owner.get(openid)

    def _remember_person(self, key: str, name: str | None, id_number: str | None) -> None:
        # Caller holds the lock.
        known = self._people.setdefault(key, {"name": None, "id_number": None})
        if name:
            known["name"] = name
        if id_number:
            known["id_number"] = id_number.upper()
        for appid in self.apps:
            self._openid_owner[self.openid_in(appid, key)] = (appid, key)

    def _openid_of_code(self, code: str, appid: str) -> str:
        # Caller holds the lock (the code was already checked by _login_code).
        pinned = self.code_openids.get(code)
        if pinned:
            return pinned
        key, name, id_number, for_app = code, None, None, None
        if code.startswith("p1."):
            try:
                raw = code.split(".")[1]
                key, name, id_number, tag = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split(
                    "\x1f")[:4]
            except (ValueError, IndexError):
                raise _WeChatError(40029) from None
            for_app = {"": None, "m": self.DEFAULT_MP_APPID, "o": self.DEFAULT_APPID}.get(tag, tag)
        if for_app and for_app != appid:
            raise _WeChatError(40029)  # a code is only good in the app that issued it
        self._remember_person(key, name, id_number)
        return self.openid_in(appid, key)

    @staticmethod
    def _scope_of_code(code: str) -> str:
        """The scope a web-authorisation code was granted with (a plain code: snsapi_base)."""
        if code.startswith("p1."):
            raw = code.split(".")[1]
            try:
                fields = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("\x1f")
            except ValueError:
                return "snsapi_base"
            if len(fields) > 4 and fields[4] == "u":
                return "snsapi_userinfo"
        return "snsapi_base"

    def _check_openid_app(self, openid: str, req: _Request) -> None:
        # Caller holds the lock. WeChat answers 40003 for an openid of another app (e.g. a public-account
        # template message to a mini-program openid).
        owner = self._openid_owner.get(openid)
        if owner is not None and req.appid is not None and owner[0] != req.appid:
            raise _WeChatError(40003)

    # WeChat's web-authorisation page (open.weixin.qq.com/connect/oauth2/authorize), for browser tests that point
    # settings.wechat_oauth_base here. https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
    # and 换取用户授权凭证 https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html:
    # - snsapi_base "静默授权并自动跳转到回调页": WeChat asks nothing and sends the WeChat user of the phone
    #   (``fake.web_user``) back to redirect_uri with a one-time code of the requesting account, state unchanged.
    # - snsapi_userinfo "这种授权需要用户手动同意": a consent page (允许 / 拒绝). The one exception, "对于已关注公众号的
    #   用户，如果用户从公众号的会话或者自定义菜单进入本公众号的网页授权页，即使是scope为snsapi_userinfo，也是静默授权":
    #   a follower (``follow``) opening from the menu (``web_entry`` "menu"; "link" for a shared link or a QR poster).
    # - 拒绝: the old document says WeChat then redirects with the state only (redirect_uri?state=STATE); WeChat's
    #   staff answer today that a refusal cannot be observed ("无法监听用户取消",
    #   https://developers.weixin.qq.com/community/develop/doc/000c8c095d07204ec0844330461000): by default the
    #   fake stays on its page (never kinder); ``decline_redirects`` True gives the documented redirect.

    def authorize_page(self, target: str) -> tuple[int, str]:
        """(302, where WeChat sends the browser), (200, the consent page) or (4xx, WeChat's error text)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        with self._lock:
            user, appid, scope = self.web_user, query.get("appid", ""), query.get("scope")
            if appid not in self.apps or appid == self.mp_appid:
                result = (400, "appid 参数错误")
            elif query.get("response_type") != "code" or scope not in ("snsapi_base", "snsapi_userinfo"):
                result = (400, "scope 参数错误或没有 scope 权限")
            elif not query.get("redirect_uri", "").startswith(("http://", "https://")):
                result = (400, "redirect_uri 参数错误")
            elif user is None:
                result = (403, "请在微信客户端打开链接")
            elif scope == "snsapi_userinfo" and not (self.web_entry == "menu"
                                                     and self.openid_in(appid, user.key) in self._followers):
                ticket = secrets.token_urlsafe(12)
                self._consent_tickets[ticket] = (user, appid, query["redirect_uri"], query.get("state", ""))
                result = (200, CONSENT_PAGE.format(ticket=ticket))
            else:
                result = (302, self._back_with_code(user, appid, scope, query["redirect_uri"], query.get("state", "")))
            self._calls.append(Call("GET", "connect/oauth2/authorize", query, None, time.time(), result[0],
                                    0 if result[0] in (200, 302) else -1, appid))
        return result

    def consent_answer(self, target: str) -> tuple[int, str]:
        """The user tapped 允许 (allow=1) or 拒绝 (allow=0) on the consent page."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        with self._lock:
            pending = self._consent_tickets.pop(query.get("ticket", ""), None)
            if pending is None:
                result = (400, "授权已失效，请重新打开页面")
            else:
                user, appid, uri, state = pending
                if query.get("allow") == "1":
                    result = (302, self._back_with_code(user, appid, "snsapi_userinfo", uri, state))
                elif self.decline_redirects:
                    result = (302, f"{uri}{'&' if '?' in uri else '?'}{urlencode({'state': state})}")
                else:
                    result = (200, "<!doctype html><title>微信授权</title><p>你已拒绝授权</p>")
            self._calls.append(Call("GET", "connect/oauth2/consent", query, None, time.time(), result[0],
                                    0 if pending else -1, pending[1] if pending else None))
        return result

    def _back_with_code(self, user: Person, appid: str, scope: str, uri: str, state: str) -> str:
        code = self.code_for(user.key, name=user.name, id_number=user.id_number, appid=appid, scope=scope)
        return f"{uri}{'&' if '?' in uri else '?'}{urlencode({'code': code, 'state': state})}"

    # 微信人脸核身 (face verification for government services), mini-program server API:
    # https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_getverifyid.html
    # https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo.html
    # The mini-program then calls wx.requestFacialVerify({verifyId}); the result is only trusted from
    # queryverifyinfo (errcode 0 and verify_ret 10000). WeChat compares the face of whoever holds the phone
    # with the public-security photo of cert_no: here it succeeds when the person doing it (the openid's own
    # person unless a test puts someone else in ``face_doers``) has exactly that name and ID number.

    VERIFY_OK = 10000
    VERIFY_MISMATCH = 10004  # 比对人脸信息不匹配

    @staticmethod
    def cert_hash(cert_info: dict) -> str:
        """cert_hash as WeChat documents it: sha256 of cert_type=b64&cert_name=b64&cert_no=b64, hex."""
        def b64(value: str) -> str:
            return base64.b64encode(str(value).encode()).decode()

        joined = "&".join(f"{k}={b64(cert_info.get(k, ''))}" for k in ("cert_type", "cert_name", "cert_no"))
        return hashlib.sha256(joined.encode()).hexdigest()

    def _h_getverifyid(self, req: _Request) -> dict:
        body = self._body(req)
        if req.appid != self.mp_appid:
            raise _WeChatError(48001)  # a mini-program capability
        out_seq_no, cert, openid = body.get("out_seq_no"), body.get("cert_info"), body.get("openid")
        if not isinstance(out_seq_no, str) or not (5 <= len(out_seq_no) <= 32) or not all(
                c.isascii() and (c.isalnum() or c in "_-") for c in out_seq_no):
            raise _WeChatError(47001)
        if (req.appid, out_seq_no) in self._out_seq_nos:
            raise _WeChatError(47003, "out_seq_no duplicated")
        if not isinstance(cert, dict) or cert.get("cert_type") != "IDENTITY_CARD" or not cert.get(
                "cert_name") or not cert.get("cert_no"):
            raise _WeChatError(47001)
        self._check_openid(openid, req)
        self._out_seq_nos.add((req.appid, out_seq_no))
        verify_id = "fv" + secrets.token_urlsafe(24)
        self._verify[verify_id] = {"appid": req.appid, "openid": openid, "out_seq_no": out_seq_no,
                                   "cert_hash": self.cert_hash(cert), "cert_name": cert["cert_name"],
                                   "cert_no": str(cert["cert_no"]).upper(), "expires_at": time.monotonic() + 3600}
        return {"errcode": 0, "errmsg": "ok", "verify_id": verify_id, "expires_in": 3600}

    def _h_queryverifyinfo(self, req: _Request) -> dict:
        body = self._body(req)
        session = self._verify.get(body.get("verify_id") or "")
        if session is None or session["appid"] != req.appid or time.monotonic() >= session["expires_at"]:
            raise _WeChatError(47003, "verify_id invalid")
        # WeChat checks cert_hash, out_seq_no and openid and answers an errcode (not a verify_ret) on a mismatch.
        if body.get("openid") != session["openid"]:
            raise _WeChatError(40003)
        if body.get("out_seq_no") != session["out_seq_no"] or body.get("cert_hash") != session["cert_hash"]:
            raise _WeChatError(47003, "cert_hash or out_seq_no mismatch")
        return {"errcode": 0, "errmsg": "ok", "verify_ret": self._verify_ret(session)}

    def _verify_ret(self, session: dict) -> int:
        doer = self.face_doers.get(session["openid"])
        if isinstance(doer, int):
            return doer  # e.g. 90002: the user cancelled
        if doer is None:
            owner = self._openid_owner.get(session["openid"])
            person = self._people.get(owner[1]) if owner else None
        else:
            person = self._people.get(doer.key)
        if person and person["name"] == session["cert_name"] and person["id_number"] == session["cert_no"]:
            return self.VERIFY_OK
        return self.VERIFY_MISMATCH

    # ============================================================ end IDENTITY (issue 9)

    # ------------------------------------------------------------- handlers

    def _build_routes(self) -> dict[str, _Route]:
        get, post, both = ("GET",), ("POST",), ("GET", "POST")
        return {
            "cgi-bin/stable_token": _Route(post, self._h_stable_token, False),
            "cgi-bin/token": _Route(get, self._h_token, False),
            "sns/jscode2session": _Route(get, self._h_jscode2session, False),
            "sns/oauth2/access_token": _Route(get, self._h_oauth2, False),
            "sns/userinfo": _Route(get, self._h_sns_userinfo, False),  # the user's web token, checked there
            "cgi-bin/message/subscribe/send": _Route(post, self._h_subscribe, True, "subscribe"),
            # Official-account flavour of the subscribe message; same bookkeeping.
            "cgi-bin/message/subscribe/bizsend": _Route(post, self._h_subscribe, True, "subscribe"),
            "cgi-bin/message/template/send": _Route(post, self._h_template, True, "template"),
            "cgi-bin/message/custom/send": _Route(post, self._h_custom, True, "custom"),
            "cgi-bin/menu/create": _Route(post, self._h_menu_create, True),
            "cgi-bin/menu/get": _Route(get, self._h_menu_get, True),
            "cgi-bin/menu/delete": _Route(both, self._h_menu_delete, True),
            "cgi-bin/qrcode/create": _Route(post, self._h_qrcode, True),
            "cgi-bin/user/info": _Route(get, self._h_user_info, True),
            "cgi-bin/ticket/getticket": _Route(get, self._h_ticket, True),
            # IDENTITY (issue 9): 微信人脸核身 of the mini-program.
            "cityservice/face/identify/getverifyid": _Route(post, self._h_getverifyid, True),
            "cityservice/face/identify/queryverifyinfo": _Route(post, self._h_queryverifyinfo, True),
        }

    def _h_stable_token(self, req: _Request) -> dict:
        body = self._body(req)
        if body.get("grant_type") != "client_credential":
            raise _WeChatError(40002)
        appid = body.get("appid")
        self._check_app(appid, body.get("secret"), bad_secret=40125)
        current = self._stable.get(appid)
        if current is not None and time.monotonic() >= self._tokens[current].expires_at:
            del self._tokens[current]
            self._dead_tokens[current] = 42001
            current = None
        if current is not None and body.get("force_refresh"):
            # Stable-token force_refresh invalidates the previous token at once.
            del self._tokens[current]
            self._dead_tokens[current] = 40001
            current = None
        if current is None:
            current = self._new_token(appid, stable=True)
            self._stable[appid] = current
        self.token_fetches += 1
        return {"access_token": current, "expires_in": self._expires_in(current)}

    def _h_token(self, req: _Request) -> dict:
        if req.query.get("grant_type") != "client_credential":
            raise _WeChatError(40002)
        appid = req.query.get("appid")
        self._check_app(appid, req.query.get("secret"), bad_secret=40001)
        # Classic endpoint: a new token every call; older ones live until their TTL
        # (WeChat keeps them valid for a grace period).
        token = self._new_token(appid, stable=False)
        self.token_fetches += 1
        return {"access_token": token, "expires_in": self._expires_in(token)}

    def _login_code(self, req: _Request, code_param: str) -> str:
        q = req.query
        self._check_app(q.get("appid"), q.get("secret"), bad_secret=40125)
        if q.get("grant_type") != "authorization_code":
            raise _WeChatError(40002)
        code = q.get(code_param)
        if not code:
            raise _WeChatError(41008)
        if code in self.invalid_codes:
            raise _WeChatError(40029)
        if self.used_codes_fail:
            if code in self._used_codes:
                raise _WeChatError(40163)
            self._used_codes.add(code)
        return code

    def _h_jscode2session(self, req: _Request) -> dict:
        # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
        # openid is this mini-program's id of the user; unionid is shared by the apps of one open-platform account
        # and comes back only when the app is bound to one.
        self._check_login_app(req, "mp")
        code = self._login_code(req, "js_code")
        appid = req.query["appid"]
        openid = self._openid_of_code(code, appid)
        return self._with_unionid(appid, openid, {"openid": openid, "session_key": self.session_key_for(code)})

    def _h_oauth2(self, req: _Request) -> dict:
        # 换取用户授权凭证 (https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html):
        # openid, and "unionid …只有当scope为"snsapi_userinfo"时返回" (when the account is bound to an open-platform
        # account); is_snapshotuser only for a snapshot-page virtual account ("只有当…时返回，值为1").
        self._check_login_app(req, "oa")
        code = self._login_code(req, "code")
        appid = req.query["appid"]
        openid = self._openid_of_code(code, appid)
        scope = self._scope_of_code(code)
        token = "OAUTH_" + secrets.token_urlsafe(24)
        self._web_tokens[token] = (appid, openid, scope, time.monotonic() + 7200)
        result = {"access_token": token, "expires_in": 7200, "refresh_token": "REFRESH_" + secrets.token_urlsafe(24),
                  "openid": openid, "scope": scope}
        return self._with_unionid(appid, openid, result) if scope == "snsapi_userinfo" else result

    def _h_sns_userinfo(self, req: _Request) -> dict:
        # 获取授权用户信息 (https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo.html):
        # with the user's web access_token (not the account's) and openid; "调用本接口必须是使用“snsapi_userinfo”
        # 构建的授权链接，并且获得用户授权同意，否则会返回 48001"; unionid only for an open-platform-bound account.
        token = req.query.get("access_token")
        if not token:
            raise _WeChatError(41001)
        found = self._web_tokens.get(token)
        if found is None:
            raise _WeChatError(40001)
        appid, openid, scope, expires = found
        if time.monotonic() >= expires:
            raise _WeChatError(42001)
        if req.query.get("openid") != openid:
            raise _WeChatError(40003)
        if scope != "snsapi_userinfo":
            raise _WeChatError(48001, "api unauthorized")
        return self._with_unionid(appid, openid, {
            "openid": openid, "nickname": "微信用户", "sex": 0, "province": "", "city": "", "country": "",
            "headimgurl": "", "privilege": []})

    def _send_ok(self) -> dict:
        return {"errcode": 0, "errmsg": "ok", "msgid": next(self._msgids)}

    def _h_subscribe(self, req: _Request) -> dict:
        body = self._check_message_body(req)
        self._check_subscribe_data(body)
        self._take_consent(body["touser"], body["template_id"])
        return self._send_ok()

    def _check_message_body(self, req: _Request) -> dict:
        body = self._body(req)
        self._check_openid(body.get("touser"), req)
        if not body.get("template_id"):
            raise _WeChatError(40037)
        if not isinstance(body.get("data"), dict):
            raise _WeChatError(47003)
        return body

    def _h_template(self, req: _Request) -> dict:
        body = self._check_message_body(req)
        self._check_follower(body["touser"])
        self._check_subscribe_data(body, legacy_keys=True)
        result = self._send_ok()
        client_msg_id = req.body.get("client_msg_id")
        if not client_msg_id:
            return result
        # 防重入: the same user and client_msg_id within the window get the first answer, not a second message.
        key, now = (req.body["touser"], str(client_msg_id)), time.monotonic()
        first = self._client_msg_ids.get(key)
        if first is not None and now - first[0] < self.client_msg_id_window:
            self.deduped += 1
            req.deduped = True
            return self._duplicate_reply(result, first[1])
        self._client_msg_ids[key] = (now, result["msgid"])
        return result

    def _h_custom(self, req: _Request) -> dict:
        body = self._body(req)
        self._check_openid(body.get("touser"), req)
        msgtype = body.get("msgtype")
        if not msgtype or not isinstance(body.get(msgtype), dict):
            raise _WeChatError(47003)
        self._take_reply_window(body["touser"])
        return {"errcode": 0, "errmsg": "ok"}

    def _h_menu_create(self, req: _Request) -> dict:
        body = self._body(req)
        self._check_menu(body)
        self.menu = body
        return {"errcode": 0, "errmsg": "ok"}

    def _h_menu_get(self, req: _Request) -> dict:
        if self.menu is None:
            raise _WeChatError(46003)
        return {"menu": self.menu}

    def _h_menu_delete(self, req: _Request) -> dict:
        self.menu = None
        return {"errcode": 0, "errmsg": "ok"}

    def _h_qrcode(self, req: _Request) -> dict:
        body = self._body(req)
        action = body.get("action_name")
        scene = (body.get("action_info") or {}).get("scene")
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            raise _WeChatError(47003)
        if not isinstance(scene, dict) or not ({"scene_id", "scene_str"} & scene.keys()):
            raise _WeChatError(47003)
        ticket = "gQ" + secrets.token_urlsafe(30)
        result: dict[str, Any] = {"ticket": ticket, "url": "http://weixin.qq.com/q/" + ticket[:22]}
        if not action.startswith("QR_LIMIT"):
            result["expire_seconds"] = int(body.get("expire_seconds") or 60)
        self.qrcodes.append({**body, **result})
        return result

    def _h_user_info(self, req: _Request) -> dict:
        # https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
        # "subscribe 值为0时，代表此用户没有关注该公众号，拉取不到其余信息": a user who does not follow the
        # account yields nothing but the openid — no unionid either.
        openid = req.query.get("openid")
        self._check_openid(openid, req)
        overrides = self.users.get(openid, {})
        following = overrides.get("subscribe", 1 if openid in self._followers else 0)
        if following == 0:
            return {"subscribe": 0, "openid": openid}
        info = {
            "subscribe": 1,
            "openid": openid,
            "language": "zh_CN",
            "subscribe_time": 1700000000,
            "remark": "",
            "groupid": 0,
            "tagid_list": [],
            "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 0,
            "qr_scene_str": "",
        }
        info.update(overrides)
        return self._with_unionid(req.appid or self.appid, openid, info)

    def _h_ticket(self, req: _Request) -> dict:
        kind = req.query.get("type", "jsapi")
        return {
            "errcode": 0,
            "errmsg": "ok",
            "ticket": f"{kind.upper()}_" + secrets.token_urlsafe(24),
            "expires_in": 7200,
        }

    # ============================================= WeChat's published rules
    # Each rule below is WeChat's documented behaviour, with the document it comes from; each is tested
    # in tests/test_fakewechat.py ("rules" section) so the fake cannot drift into kindness again.

    # Which app's access token an API accepts. A token of the other app is refused with 48001 "api unauthorized"
    # (what WeChat answers, e.g. a public-account token on subscribeMessage.send:
    # https://developers.weixin.qq.com/community/develop/doc/000ea4acf109d07cd450d3f6266000).
    # Mini-program APIs: https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/ (subscribeMessage.send is
    # POST cgi-bin/message/subscribe/send). Public-account (服务号) APIs: https://developers.weixin.qq.com/doc/service/api/
    # (template/send, subscribe/bizsend, menu/*, qrcode/create, user/info, ticket/getticket).
    # cgi-bin/message/custom/send is both apps' customer-service message, so it is not listed.
    API_OWNER: dict[str, str] = {
        "cgi-bin/message/subscribe/send": "mp",
        "cgi-bin/message/subscribe/bizsend": "oa",
        "cgi-bin/message/template/send": "oa",
        "cgi-bin/menu/create": "oa",
        "cgi-bin/menu/get": "oa",
        "cgi-bin/menu/delete": "oa",
        "cgi-bin/qrcode/create": "oa",
        "cgi-bin/user/info": "oa",
        "cgi-bin/ticket/getticket": "oa",
    }
    # Customer-service reply window (客服消息 / customerServiceMessage.send: "45015 回复时间超过限制" — WeChat's
    # errmsg "response out of time limit or subscription is canceled", so an unfollow closes it too — and
    # "45047 客服接口下行条数超过上限" "out of response count limit"): a user's message opens 48 hours for 5
    # messages, a menu click, a follow or a QR scan 1 minute for 3, and each new action starts a new quota.
    # https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage.html; the public
    # account's figure is 5 since WeChat's announcement of 2023-06-12 (it was 20 per message from 2021-06 until
    # then, the figure older articles quote); the mini-program's is 5 as well.
    REPLY_WINDOWS = {"message": (48 * 3600.0, 5), "event": (60.0, 3)}

    def _reset_rules_state(self) -> None:
        self.mp_apps: set[str] = {self.mp_appid} if self.mp_appid else set()  # every other app is a public account
        # code2Session / oauth2: "unionid 若当前小程序已绑定到微信开放平台账号下会返回"
        # (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html).
        self.open_platform_apps: set[str] = set(self.apps)  # apps bound to an open-platform account
        # One-time subscribe messages (一次性订阅): each wx.requestSubscribeMessage "允许" lets the app send ONE
        # message of that template; without one the send answers 43101 "用户拒绝接受消息"
        # (https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message.html).
        self._consents: dict[tuple[str, str], int] = {}  # (openid, template_id) -> sends left
        self.long_term_templates: set[str] = set()  # 长期订阅 templates: one consent, any number of sends
        # Optional: template_id -> its field keys; a send with other keys answers 47003 as WeChat does.
        self.templates: dict[str, set[str]] = {}
        self._followers: dict[str, float] = {}  # openid -> time.time() of following the public account
        self._windows: dict[str, tuple[float, int]] = {}  # openid -> (window closes at, messages left)
        self.daily_quota: dict[str, int] = {}  # path -> calls a day; past it 45009 "reach max api daily quota limit"
        # What a template send repeating a client_msg_id inside its window answers. WeChat documents only that
        # it delivers one message ("对于同一个openid + client_msg_id, 只发送一条消息，10分钟有效"), not the reply:
        # "ok" answers success without a msgid, "first" success with the first send's msgid. Code must accept both.
        self.client_msg_id_duplicate_reply = "ok"
        self._daily_calls: dict[str, int] = {}

    # ---------------------------------------------------- what users did (tests call these)

    def accept_subscription(self, openid: str, template_id: str, times: int = 1) -> None:
        """The user tapped 允许 in wx.requestSubscribeMessage ``times`` times for ``template_id``."""
        with self._lock:
            key = (openid, template_id)
            self._consents[key] = self._consents.get(key, 0) + times

    def consents_left(self, openid: str, template_id: str) -> int:
        with self._lock:
            return self._consents.get((openid, template_id), 0)

    def follow(self, openid: str, at: float | None = None) -> None:
        """The user follows the public account (a follow opens a short customer-service window too)."""
        with self._lock:
            self._followers[openid] = at if at is not None else time.time()
            self._open_window(openid, "event", at)

    def unfollow(self, openid: str) -> None:
        with self._lock:
            self._followers.pop(openid, None)
            self._windows.pop(openid, None)

    def user_message(self, openid: str, at: float | None = None) -> None:
        """The user sent the account a message at ``at`` (time.time(); default now)."""
        with self._lock:
            self._open_window(openid, "message", at)

    def user_event(self, openid: str, at: float | None = None) -> None:
        """The user clicked a menu or scanned a code at ``at``."""
        with self._lock:
            self._open_window(openid, "event", at)

    def _open_window(self, openid: str, kind: str, at: float | None) -> None:
        length, count = self.REPLY_WINDOWS[kind]
        closes = (at if at is not None else time.time()) + length
        current = self._windows.get(openid)
        if current is None or current[0] < closes:
            self._windows[openid] = (closes, count)

    # ---------------------------------------------------- the checks

    def _app_kind(self, appid: str | None) -> str:
        return "mp" if appid in self.mp_apps else "oa"

    def _duplicate_reply(self, result: dict, first_msgid: int) -> dict:
        if self.client_msg_id_duplicate_reply == "first":
            return {**result, "msgid": first_msgid}
        return {"errcode": 0, "errmsg": "ok"}

    def _check_api_owner(self, req: _Request) -> None:
        owner = self.API_OWNER.get(req.path)
        if owner is not None and self._app_kind(req.appid) != owner:
            raise _WeChatError(48001)

    def _check_daily_quota(self, req: _Request) -> None:
        # Per-API daily quotas ("接口调用频次限制说明": past the quota 45009 until the next day;
        # https://developers.weixin.qq.com/doc/service/guide/dev/api/frequency.html).
        quota = self.daily_quota.get(req.path)
        if quota is None:
            return
        used = self._daily_calls.get(req.path, 0)
        if used >= quota:
            raise _WeChatError(45009)
        self._daily_calls[req.path] = used + 1

    def _check_login_app(self, req: _Request, kind: str) -> None:
        # jscode2session exists for mini-programs only and web OAuth for public accounts only: another app's
        # appid answers 40013 "invalid appid" (code2Session: "appid 小程序 appId").
        appid = req.query.get("appid")
        if appid in self.apps and self._app_kind(appid) != kind:
            raise _WeChatError(40013)

    def _with_unionid(self, appid: str, openid: str, result: dict) -> dict:
        if appid in self.open_platform_apps:
            result["unionid"] = self.unionid_for(openid)
        return result

    def _take_consent(self, openid: str, template_id: str) -> None:
        key = (openid, template_id)
        left = self._consents.get(key, 0)
        if left <= 0:
            raise _WeChatError(43101)
        if template_id not in self.long_term_templates:
            self._consents[key] = left - 1

    def _check_follower(self, openid: str) -> None:
        # Template messages reach followers only: 43004 "require subscribe" (需要接收者关注;
        # https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html).
        if openid not in self._followers:
            raise _WeChatError(43004)

    def _take_reply_window(self, openid: str) -> None:
        window = self._windows.get(openid)
        if window is None or time.time() >= window[0]:
            raise _WeChatError(45015)
        if window[1] <= 0:
            raise _WeChatError(45047)
        self._windows[openid] = (window[0], window[1] - 1)

    def _check_subscribe_data(self, body: dict, *, legacy_keys: bool = False) -> None:
        """Apply the template's key set and each field's value rules; a broken one answers 47003."""
        data = body["data"]
        expected = self.templates.get(body["template_id"])
        if expected is not None and set(data) != expected:
            raise _WeChatError(47003, f"argument invalid! data keys {sorted(data)} do not match the template")
        for key, field in data.items():
            kind = key.rstrip("0123456789")
            rule = _FIELD_RULES.get(kind)
            if rule is None:
                if legacy_keys:
                    continue  # old public-account templates: first / keywordN / remark carry free text
                raise _WeChatError(47003, f"argument invalid! data.{key} is not a template field")
            value = field.get("value") if isinstance(field, dict) else None
            if not isinstance(value, str) or not value:
                raise _WeChatError(47003, f"argument invalid! data.{key}.value is empty")
            if not rule(value) or any(ord(c) < 32 for c in value):
                raise _WeChatError(47003, f"argument invalid! data.{key}.value invalid")

    def _check_menu(self, body: dict) -> None:
        # Custom menu limits (创建自定义菜单, https://developers.weixin.qq.com/doc/service/api/custommenu/api_createcustommenu.html):
        # 1–3 top-level buttons, 1–5 sub-buttons each; name ≤ 16 bytes (sub-button ≤ 60), key ≤ 128 bytes,
        # url ≤ 1024 bytes (UTF-8); errors 40016–40027 as WeChat numbers them.
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise _WeChatError(40016)
        for button in buttons:
            subs = button.get("sub_button")
            if subs:  # an empty list is the same as none
                if not isinstance(subs, list) or len(subs) > 5:
                    raise _WeChatError(40023)
                self._check_menu_button(button, name_limit=16, codes=(40018, 40019, 40020), leaf=False)
                for sub in subs:
                    self._check_menu_button(sub, name_limit=60, codes=(40025, 40026, 40027), leaf=True)
            else:
                self._check_menu_button(button, name_limit=16, codes=(40018, 40019, 40020), leaf=True)

    @staticmethod
    def _check_menu_button(button: dict, *, name_limit: int, codes: tuple[int, int, int], leaf: bool) -> None:
        name_code, key_code, url_code = codes
        name = button.get("name")
        if not isinstance(name, str) or not 0 < len(name.encode()) <= name_limit:
            raise _WeChatError(name_code)
        if not leaf:
            return
        kind = button.get("type")
        if kind == "view":
            url = button.get("url")
            if not isinstance(url, str) or not 0 < len(url.encode()) <= 1024:
                raise _WeChatError(url_code)
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise _WeChatError(40055 if name_limit == 16 else 40054)  # invalid button url domain
        elif kind in ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
                      "pic_weixin", "location_select"):
            key = button.get("key")
            if not isinstance(key, str) or not 0 < len(key.encode()) <= 128:
                raise _WeChatError(key_code)
        elif kind not in ("miniprogram", "media_id", "article_id", "article_view_limited", "view_limited"):
            raise _WeChatError(40017 if name_limit == 16 else 40024)


@dataclass(frozen=True)
class Person:
    """One WeChat user of a FakeWeChat (IDENTITY, issue 9): an openid per app, one unionid, maybe a real name."""

    fake: FakeWeChat
    key: str
    name: str | None = None
    id_number: str | None = None

    @property
    def mp_openid(self) -> str:
        return self.fake.openid_in(self.fake.mp_appid, self.key)

    @property
    def oa_openid(self) -> str:
        return self.fake.openid_in(self.fake.appid, self.key)

    @property
    def unionid(self) -> str:
        return FakeWeChat._unionid_of_key(self.key)

    def mp_code(self) -> str:
        """A fresh wx.login code of this person in the mini-program."""
        return FakeWeChat.code_for(self.key, name=self.name, id_number=self.id_number, appid=self.fake.mp_appid)

    def oa_code(self, scope: str = "snsapi_base") -> str:
        """A fresh public-account web-authorisation code of this person (granted for ``scope``)."""
        return FakeWeChat.code_for(self.key, name=self.name, id_number=self.id_number, appid=self.fake.appid,
                                   scope=scope)

    def unfollow(self) -> None:
        self.fake.users[self.oa_openid] = {"subscribe": 0}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True
    fake: FakeWeChat

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(*args, **kwargs)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # Track keep-alive connections so stop() can drop them instead of
        # leaving handler threads blocked on idle sockets.
        with self._conns_lock:
            self._conns.add(request)
            self.connections_accepted += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.discard(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so HTTP sessions reuse connections
    server_version = "FakeWeChat/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY each
    # keep-alive request can stall ~40 ms on delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        page = {"/connect/oauth2/authorize": self.server.fake.authorize_page,
                "/connect/oauth2/consent": self.server.fake.consent_answer}.get(urlsplit(self.path).path)
        if page is not None:  # a page the phone opens, not an API
            status, text = page(self.path)
            payload = b"" if status == 302 else text.encode("utf-8")
            self.send_response(status)
            if status == 302:
                self.send_header("Location", text)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        status, result = self.server.fake._dispatch(self.command, self.path, body)
        payload = json.dumps(result, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; encoding=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # 10k-request benches would otherwise flood stderr
