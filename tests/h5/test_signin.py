"""Signing in on the pages as WeChat does it, and binding with the counter code.

A page opened inside WeChat without a session goes to the public account's web authorisation; the fake WeChat
gives the person's code, the callback signs them in and returns to the page. The same person's mini-program
binding shows their bookings and cases (one person, two apps). A person known only in the public account binds
with the one-time code hall staff issue after checking the ID card.
"""

from __future__ import annotations

from models import Citizen
from server.core import auth
from tests.booking.conftest import book, unique_id_number
from tests.factories import face_bind, make_mobile, staff_headers
from tests.h5.conftest import Browser, field_error, sign_in_through_wechat
from tests.h5.test_pages import ingest  # noqa: F401  (fixture)
from tests.progress.conftest import created, stage


async def mp_person(client, fake_wechat, name: str = "陈思远"):
    """A person who logged in to the mini-program and bound their real name there by face verification."""
    person = fake_wechat.person(name, unique_id_number())
    res = await client.post("/api/mp/login", json={"code": person.mp_code()})
    assert res.status_code == 200, res.text
    headers = {"Authorization": f"Bearer {res.json()['token']}"}
    res = await face_bind(client, headers, name=person.name, id_number=person.id_number, mobile=make_mobile())
    assert res.status_code == 200, res.text
    return person, headers


async def test_a_page_opened_in_wechat_signs_in_as_the_person_of_the_mini_program_binding(
        live, client, clock, fake_wechat, browser: Browser, ingest):  # noqa: F811
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="10:00")
    assert booked.status_code == 201, booked.text
    receipt = "2026-1120-004242"
    results = await ingest.send(
        created(receipt, [(person.name, person.id_number)], accepted_at="2026-11-20T10:00:00+08:00"),
        stage(receipt, "reviewing", "2026-11-20T15:00:00+08:00"),
        created("2026-1120-004343", [("别人", unique_id_number())], accepted_at="2026-11-20T11:00:00+08:00"))
    assert {r["status"] for r in results} == {"accepted"}, results

    page = await sign_in_through_wechat(browser, fake_wechat, person, "/h5/bookings")
    assert page.status_code == 200 and f'href="/h5/bookings/{booked.json()["id"]}"' in page.text
    assert "2026-11-24 10:00" in page.text and "您还没有预约" not in page.text
    # Signed in with the public account's openid, as the row the mini-program binding made: one person.
    principal = await auth.principal_for_token(live.app, browser.http.cookies[auth.CITIZEN_COOKIE])
    [row] = await Citizen.filter(unionid=person.unionid)
    assert (principal.id, principal.openid) == (row.id, person.oa_openid)
    assert (row.openid, row.oa_openid) == (person.mp_openid, person.oa_openid)
    cases = await browser.get("/h5/cases")
    assert cases.status_code == 200 and receipt in cases.text and "2026-1120-004343" not in cases.text
    case = await browser.get(f"/h5/cases/{receipt}")
    assert case.status_code == 200 and "审核中" in case.text
    # Cancelling from the public account acts on the mini-program's booking.
    detail = await browser.get(f"/h5/bookings/{booked.json()['id']}")
    assert detail.status_code == 200 and booked.json()["code"] in detail.text
    res = await browser.post(f"/h5/bookings/{booked.json()['id']}/cancel", {})
    assert res.status_code == 303
    api = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert [b["status"] for b in api] == ["cancelled"]


async def test_someone_else_signed_in_through_wechat_sees_none_of_it(live, client, clock, fake_wechat,
                                                                     browser: Browser):
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="10:30")
    assert booked.status_code == 201, booked.text
    stranger = fake_wechat.person()
    # Back to the very page, its query included (a slot's "09:00", a page's own "next=/h5/…").
    confirm = "/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=09:00"
    page = await sign_in_through_wechat(browser, fake_wechat, stranger, confirm)
    assert page.status_code == 200 and "尚未实名认证" in page.text
    page = await browser.get("/h5/bookings")
    assert page.status_code == 200 and "您还没有预约" in page.text
    assert (await browser.get(f"/h5/bookings/{booked.json()['id']}")).status_code == 404
    cases = await browser.get("/h5/cases")
    assert cases.status_code == 403 and "实名" in cases.text


async def test_a_forged_or_reused_wechat_redirect_signs_nobody_in(live, client, fake_wechat, browser: Browser):
    person = fake_wechat.person()
    fake_wechat.follow(person.oa_openid)  # one round (a non-follower's second round: test_signin_userinfo.py)
    res = await browser.get("/h5/inbox")
    res = await browser.get(res.headers["location"])
    location = res.headers["location"]
    forged = location.replace("state=", "state=x")
    from tests.h5.conftest import wechat_redirect

    bad = await browser.get(wechat_redirect(forged, fake_wechat, person))
    assert bad.status_code == 400 and "重新打开" in bad.json()["error"]["message"]
    assert not browser.http.cookies.get(auth.CITIZEN_COOKIE)
    good = await browser.get(wechat_redirect(location, fake_wechat, person))
    assert good.status_code == 302 and good.headers["location"] == "/h5/inbox"
    browser.http.cookies.clear()
    again = await browser.get(wechat_redirect(location, fake_wechat, person))  # the same state twice
    assert again.status_code == 400 and not browser.http.cookies.get(auth.CITIZEN_COOKIE)


async def test_a_public_account_user_binds_with_the_counter_code(live, client, clock, fake_wechat,
                                                                 browser: Browser):
    person = fake_wechat.person("周晓梅", unique_id_number())
    page = await sign_in_through_wechat(browser, fake_wechat, person, "/h5/binding?next=/h5/cases")
    assert page.status_code == 200 and "只能在小程序中进行" in page.text and 'name="code"' in page.text
    assert "disabled" not in page.text
    # A wrong code, and an empty one: said next to the field, in Chinese, nothing bound.
    wrong = await browser.post("/h5/binding/code", {"code": "1234 5678", "next": "/h5/cases"})
    assert wrong.status_code == 422 and "绑定码无效" in field_error(wrong.text, "code")
    empty = await browser.post("/h5/binding/code", {"code": "", "next": "/h5/cases"})
    assert empty.status_code == 422 and field_error(empty.text, "code")
    assert (await Citizen.get(oa_openid=person.oa_openid)).id_hash is None
    # Hall staff check the ID card and issue the code; the person types it (full-width digits from an IME).
    hall_staff = await staff_headers(client, role="hall_staff", hall_code="center")
    res = await client.post("/api/staff/binding-codes", headers=hall_staff, json={
        "name": person.name, "id_number": person.id_number, "mobile": make_mobile()})
    assert res.status_code == 201, res.text
    code = res.json()["binding_code"]
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)
    done = await browser.post("/h5/binding/code", {"code": wide, "next": "/h5/cases"})
    assert done.status_code == 303 and done.headers["location"] == "/h5/cases"
    row = await Citizen.get(oa_openid=person.oa_openid)
    assert row.verified_by == "counter" and row.id_hash is not None
    bound = await browser.get("/h5/binding")
    assert "您已完成实名认证" in bound.text and person.id_number not in bound.text
    assert (await browser.get("/h5/cases")).status_code == 200
    # The code worked once: someone else entering it gets the same refusal as a wrong code.
    other = Browser(live)
    try:
        await sign_in_through_wechat(other, fake_wechat, fake_wechat.person(), "/h5/binding")
        reused = await other.post("/h5/binding/code", {"code": code, "next": "/h5/"})
        assert reused.status_code == 422 and "绑定码无效" in field_error(reused.text, "code")
    finally:
        await other.aclose()
    # Bound through the public account alone, the person books on the pages.
    res = await browser.get("/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=09:00")
    assert res.status_code == 200 and "尚未实名认证" not in res.text


async def test_the_fake_wechat_authorise_page_answers_as_wechat_does(fake_wechat):
    """The browser tests' stand-in for open.weixin.qq.com: who holds the phone, which account, which scope."""
    person = fake_wechat.person()
    url = ("/connect/oauth2/authorize?appid={appid}&redirect_uri=http%3A%2F%2Fx.test%2Fcb&response_type=code"
           "&scope={scope}&state=s1")
    ok = url.format(appid=fake_wechat.appid, scope="snsapi_base")
    assert fake_wechat.authorize_page(ok) == (403, "请在微信客户端打开链接")  # no WeChat user on this "phone"
    fake_wechat.web_user = person
    status, location = fake_wechat.authorize_page(ok)
    assert status == 302 and location.startswith("http://x.test/cb?code=") and location.endswith("&state=s1")
    assert fake_wechat.authorize_page(url.format(appid=fake_wechat.mp_appid, scope="snsapi_base"))[0] == 400
    assert fake_wechat.authorize_page(url.format(appid=fake_wechat.appid, scope="snsapi_login"))[0] == 400
