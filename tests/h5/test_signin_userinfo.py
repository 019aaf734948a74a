"""A non-follower opening a page: snsapi_base, then once snsapi_userinfo (WeChat's consent page), linked by unionid.

WeChat tells a non-follower's unionid to nobody through cgi-bin/user/info ("subscribe 值为0时…拉取不到其余信息"),
and snsapi_base's access_token answer has none; only snsapi_userinfo's has it. Every hop goes over real HTTP: our
app, the fake WeChat's authorise and consent pages (settings.wechat_oauth_base points at the fake) and its APIs.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from models import Citizen
from server.core import auth
from tests.booking.conftest import book
from tests.h5.conftest import Browser
from tests.h5.test_signin import mp_person


@pytest.fixture
def settings(settings, fake_wechat):
    return settings.model_copy(update={"wechat_oauth_base": fake_wechat.base_url})


async def open_in_wechat(browser: Browser, fake, path: str, *, consent: str | None = "allow"):
    """Open `path` without a session and follow every redirect, ours and WeChat's; on the consent page tap
    `consent` ("allow" / "deny"). Returns (last response, the scopes WeChat was asked in order)."""
    scopes, res = [], await browser.get(path)
    for _ in range(10):
        if res.status_code == 200 and 'id="allow"' in res.text:  # WeChat's consent page
            assert consent, "WeChat asked for consent"
            href = res.text.split(f'id="{consent}" href="')[1].split('"')[0]
            res = await browser.http.get(fake.base_url.rstrip("/") + href)
            continue
        if res.status_code != 302:
            return res, scopes
        location = res.headers["location"]
        if urlsplit(location).path == "/connect/oauth2/authorize":
            scopes.append(dict(parse_qsl(urlsplit(location).query))["scope"])
        res = await browser.get(location)
    raise AssertionError("too many redirects")


async def test_a_non_follower_is_asked_once_and_sees_their_mini_program_booking(live, client, clock, fake_wechat,
                                                                                browser: Browser):
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="10:00")
    assert booked.status_code == 201, booked.text
    fake_wechat.web_user, fake_wechat.web_entry = person, "link"  # a shared link; the person does not follow

    first_tokens = []
    res = await browser.get("/h5/bookings")
    res = await browser.get(res.headers["location"])  # /api/oa/oauth/authorize -> WeChat, snsapi_base
    res = await browser.get(res.headers["location"])  # WeChat, silent -> our callback
    res = await browser.get(res.headers["location"])  # our callback: signed in unlinked, off to the 2nd round
    first_tokens.append(browser.http.cookies[auth.CITIZEN_COOKIE])
    page, _ = await open_in_wechat(browser, fake_wechat, res.headers["location"])
    asked = [c.query["scope"] for c in fake_wechat.calls if c.path == "connect/oauth2/authorize"]
    assert asked == ["snsapi_base", "snsapi_userinfo"]
    assert await auth.principal_for_token(live.app, first_tokens[0]) is None  # the first round's session is gone
    consent = [c for c in fake_wechat.calls if c.path == "connect/oauth2/authorize"][-1]
    assert consent.status == 200  # WeChat showed its consent page
    assert page.status_code == 200 and urlsplit(str(page.url)).path == "/h5/bookings"
    assert f'href="/h5/bookings/{booked.json()["id"]}"' in page.text and 'id="unlinked"' not in page.text
    # One person: the row of the mini-program binding holds the public-account openid; the first round's
    # public-account-only row was merged into it and its session revoked.
    [row] = await Citizen.filter(unionid=person.unionid)
    assert (row.openid, row.oa_openid, row.id_hash is not None) == (person.mp_openid, person.oa_openid, True)
    assert await Citizen.filter(oa_openid=person.oa_openid).count() == 1
    principal = await auth.principal_for_token(live.app, browser.http.cookies[auth.CITIZEN_COOKIE])
    assert (principal.id, principal.openid) == (row.id, person.oa_openid)
    # user/info was asked once (it said subscribe 0); the unionid came from snsapi_userinfo's access_token.
    assert len(fake_wechat.calls_to("cgi-bin/user/info")) == 1
    assert [c.status for c in fake_wechat.calls_to("sns/oauth2/access_token")] == [200, 200]


async def test_a_follower_is_never_asked_more_than_snsapi_base(live, client, clock, fake_wechat, browser: Browser):
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="10:30")
    assert booked.status_code == 201, booked.text
    fake_wechat.follow(person.oa_openid)
    fake_wechat.web_user, fake_wechat.web_entry = person, "link"  # even from a shared link

    page, scopes = await open_in_wechat(browser, fake_wechat, "/h5/bookings", consent=None)
    assert scopes == ["snsapi_base"]
    assert page.status_code == 200 and f'href="/h5/bookings/{booked.json()["id"]}"' in page.text
    assert 'id="unlinked"' not in page.text
    assert (await Citizen.get(unionid=person.unionid)).oa_openid == person.oa_openid


@pytest.mark.parametrize("redirects", [False, True], ids=["no-redirect", "state-only-redirect"])
async def test_a_refused_consent_signs_in_unlinked_and_says_so(live, client, clock, fake_wechat, browser: Browser,
                                                               redirects: bool):
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="11:00")
    assert booked.status_code == 201, booked.text
    fake_wechat.web_user, fake_wechat.decline_redirects = person, redirects

    page, scopes = await open_in_wechat(browser, fake_wechat, "/h5/bookings", consent="deny")
    assert scopes == ["snsapi_base", "snsapi_userinfo"]
    if not redirects:  # WeChat keeps its own page: the person goes back and opens the page again
        assert "你已拒绝授权" in page.text
        page = await browser.get("/h5/bookings")
    assert page.status_code == 200 and urlsplit(str(page.url)).path == "/h5/bookings"
    # Signed in as a public-account-only person: the mini-program booking is not theirs here, and the page says
    # why and what to do.
    assert "您还没有预约" in page.text and booked.json()["code"] not in page.text
    note = page.text.split('id="unlinked"')[1].split("</div>")[0]
    assert "小程序中的实名认证和预约不会在这里显示" in note and "绑定码" in note
    row = await Citizen.get(oa_openid=person.oa_openid)
    assert row.unionid is None and row.openid is None
    assert (await Citizen.get(openid=person.mp_openid)).id != row.id
    # Not asked again while signed in: the next page is one request, no WeChat round.
    before = len(fake_wechat.calls_to("connect/oauth2/authorize"))
    assert (await browser.get("/h5/")).status_code == 200
    assert len(fake_wechat.calls_to("connect/oauth2/authorize")) == before


async def test_the_second_round_state_is_single_use_and_tied_to_the_browser(live, client, fake_wechat,
                                                                            browser: Browser):
    person = fake_wechat.person()
    fake_wechat.web_user, fake_wechat.decline_redirects = person, True
    res = await browser.get("/api/oa/oauth/authorize", params={"next": "/h5/inbox"})
    res = await browser.get(res.headers["location"])  # the fake's silent snsapi_base
    res = await browser.get(res.headers["location"])  # our callback: signed in unlinked, sent to snsapi_userinfo
    second = res.headers["location"]
    query = dict(parse_qsl(urlsplit(second).query))
    assert query["scope"] == "snsapi_userinfo" and browser.http.cookies.get(auth.CITIZEN_COOKIE)
    callback = query["redirect_uri"]
    # Someone else holding the state (a shared consent link) and refusing: no session for them.
    other = Browser(live)
    try:
        stolen = await other.get(callback, params={"state": query["state"]})
        assert stolen.status_code == 400 and stolen.json()["error"]["code"] == "OAUTH_STATE_INVALID"
        assert not other.http.cookies.get(auth.CITIZEN_COOKIE)
    finally:
        await other.aclose()
    again = await browser.get(callback, params={"state": query["state"]})  # the state went with that attempt
    assert again.status_code == 400
    # A fresh second round: the person's own refusal returns to the page, signed in unlinked.
    res = await browser.get("/api/oa/oauth/authorize", params={"next": "/h5/inbox"})
    res = await browser.get(res.headers["location"])
    res = await browser.get(res.headers["location"])
    query = dict(parse_qsl(urlsplit(res.headers["location"]).query))
    done = await browser.get(query["redirect_uri"], params={"state": query["state"]})
    assert done.status_code == 302 and done.headers["location"] == "/h5/inbox"
    # A next outside /h5/ is refused before WeChat is asked, as in the first round.
    bad = await browser.get("/api/oa/oauth/authorize", params={"next": "https://evil.example/h5/"})
    assert bad.status_code == 422


async def test_user_info_failing_is_no_reason_for_the_consent_page(live, client, clock, fake_wechat,
                                                                    browser: Browser):
    """Only WeChat's "does not follow" (subscribe 0) sends a person to the consent page; a failed user/info
    signs them in unlinked for now (said on the page), and the next sign-in asks again."""
    person, _ = await mp_person(client, fake_wechat)
    fake_wechat.web_user = person
    fake_wechat.follow(person.oa_openid)
    fake_wechat.fail_next("cgi-bin/user/info", 45009)
    page, scopes = await open_in_wechat(browser, fake_wechat, "/h5/bookings", consent=None)
    assert scopes == ["snsapi_base"] and page.status_code == 200
    assert 'id="unlinked"' in page.text
    browser.http.cookies.clear()
    page, scopes = await open_in_wechat(browser, fake_wechat, "/h5/bookings", consent=None)
    assert scopes == ["snsapi_base"] and 'id="unlinked"' not in page.text
    assert (await Citizen.get(oa_openid=person.oa_openid)).unionid == person.unionid
