"""Page tests: a citizen signed in through the page cookie, and forms posted with their CSRF token."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from server.core.auth import CITIZEN_COOKIE
from tests.booking.conftest import MONDAY, citizen

WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 MicroMessenger/8.0.50(0x1800322d) NetType/WIFI Language/zh_CN")


@pytest.fixture
def clock(live):
    """Monday 23 November 2026, 08:30 in the center's time zone (the booking tests' ordinary week)."""
    live.ctx.clock.set(MONDAY)
    return live.ctx.clock


class Browser:
    """An HTTP client that keeps cookies like a browser and reads the CSRF token off each page."""

    def __init__(self, live) -> None:
        self.http = httpx.AsyncClient(base_url=live.url, timeout=30, headers={"user-agent": WECHAT_UA})
        self.csrf = ""

    async def get(self, path: str, **kw) -> httpx.Response:
        res = await self.http.get(path, **kw)
        self._read_csrf(res)
        return res

    async def post(self, path: str, data: dict, *, csrf: bool = True, **kw) -> httpx.Response:
        body = dict(data) | ({"csrf": self.csrf} if csrf else {})
        res = await self.http.post(path, data=body, **kw)
        self._read_csrf(res)
        return res

    def _read_csrf(self, res: httpx.Response) -> None:
        found = re.search(r'name="csrf" value="([^"]+)"', res.text)
        if found:
            self.csrf = found.group(1)

    def sign_in(self, headers: dict) -> None:
        self.http.cookies.set(CITIZEN_COOKIE, headers["Authorization"].split(" ", 1)[1])

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def browser(live):
    b = Browser(live)
    yield b
    await b.aclose()


@pytest.fixture
async def signed_in(live, client, browser) -> tuple[Browser, dict, str]:
    """A bound citizen signed in on the pages; (browser, API headers, ID number)."""
    headers, id_number = await citizen(client)
    browser.sign_in(headers)
    return browser, headers, id_number


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'id="err-{field}" role="alert">([^<]+)<', html)
    return found.group(1) if found else None


def wechat_redirect(authorize_url: str, fake, person, *, fragment: bool = True, scope: str = "snsapi_base") -> str:
    """What WeChat does with its authorise URL once the person agrees: back to redirect_uri with a code.

    Checks the URL asks the public account (snsapi_base) and answers the redirect_uri with a fresh
    web-authorisation code of `person` from the fake WeChat and the state unchanged. (A browser does not send
    the "#wechat_redirect" fragment: `fragment=False` where the URL comes from an intercepted request.)
    """
    parts = urlsplit(authorize_url)
    assert parts.path == "/connect/oauth2/authorize", authorize_url
    assert parts.fragment == ("wechat_redirect" if fragment else ""), authorize_url
    query = dict(parse_qsl(parts.query))
    assert query["appid"] == fake.appid and query["scope"] == scope and query["response_type"] == "code"
    assert query["redirect_uri"].endswith("/api/oa/oauth/callback") and query["state"]
    return f"{query['redirect_uri']}?{urlencode({'code': person.oa_code(scope), 'state': query['state']})}"


async def sign_in_through_wechat(browser: Browser, fake, person, path: str, following: bool = True) -> httpx.Response:
    """Open `path` in WeChat without a session and follow every redirect, WeChat's own simulated; the last page.

    `following`: the person follows the public account (they opened its menu); WeChat tells a non-follower's
    unionid to nobody through user/info, so a non-follower is sent once more with snsapi_userinfo, and taps 允许
    on WeChat's consent page (tests/h5/test_signin_userinfo.py walks the fake's real pages, refusal included).
    """
    if following:
        fake.follow(person.oa_openid)
    res = await browser.get(path)
    assert res.status_code == 302 and res.headers["location"].startswith("/api/oa/oauth/authorize?next="), res.text
    res = await browser.get(res.headers["location"])
    assert res.status_code == 302, res.text
    res = await browser.get(wechat_redirect(res.headers["location"], fake, person))
    if not following:
        res = await browser.get(wechat_redirect(res.headers["location"], fake, person, scope="snsapi_userinfo"))
    assert res.status_code == 302 and res.headers["location"] == path, res.text
    assert browser.http.cookies.get(CITIZEN_COOKIE)
    return await browser.get(path)
