"""The pages in a real browser: Debian's chromium driven by playwright, on a 375×667 phone with WeChat's user
agent. Book a slot end to end, see it in 我的预约, cancel it; look a case up; read a notice; 200 % zoom; no
JavaScript; a page opened in WeChat without a session signs in through the public account's web authorisation
(WeChat's redirect simulated with the fake WeChat's code); binding with the counter code. With
DENGJI_SCREENSHOTS=1 the screenshots in docs/h5/ (shown in the README) are refreshed."""

from __future__ import annotations

import importlib.util
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from server.booking import flows as booking_flows
from server.core.auth import CITIZEN_COOKIE, principal_for_token
from tests.booking.conftest import TZ, at, book
from tests.factories import make_id_number, make_mobile, staff_headers
from tests.h5.conftest import WECHAT_UA, citizen, field_error
from tests.h5.test_inbox import member_with_notice
from tests.h5.test_pages import ingest  # noqa: F401  (fixture)
from tests.h5.test_signin import mp_person
from tests.notices.conftest import write_config
from tests.progress.conftest import created, stage

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "h5"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not (Path(CHROMIUM).exists() or shutil.which("chromium")),
                       reason="Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="python playwright is not installed (pip install -e '.[dev]')"),
]


@pytest.fixture
def settings(settings, fake_wechat):
    write_config(settings.home)  # notices: fast delivery in-process
    # WeChat's web-authorisation page is the fake's: the browser follows every redirect itself.
    return settings.model_copy(update={"jobs_backend": "inline", "wechat_oauth_base": fake_wechat.base_url})


@pytest.fixture
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def phone(chromium, live, *, zoom: float = 1, javascript: bool = True):
    """A page on a 375×667 phone in WeChat; `zoom` 2 is the browser at 200 % (half the CSS pixels)."""
    context = await chromium.new_context(
        viewport={"width": round(375 / zoom), "height": round(667 / zoom)}, device_scale_factor=2 * zoom,
        is_mobile=True, has_touch=True, user_agent=WECHAT_UA, locale="zh-CN", base_url=live.url,
        java_script_enabled=javascript)
    context.set_default_timeout(15_000)
    return await context.new_page()


async def sign_in(page, token: str, next_url: str = "/h5/") -> None:
    """The documented development sign-in: paste a citizen token into /h5/dev/login."""
    await page.goto(f"/h5/dev/login?next={quote(next_url)}")
    await assert_one_thumb(page)
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: url.endswith(next_url))


async def shot(page, name: str) -> None:
    """Refresh docs/h5/<name>.png, only when asked (DENGJI_SCREENSHOTS=1): booking codes, dates and times differ
    on every run, so an ordinary test run leaves the committed screenshots alone."""
    if os.environ.get("DENGJI_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def tap(page, target: str, until: str, name: str) -> None:
    """Tap, wait for the next page, check it fits one thumb and keep its screenshot."""
    await page.click(target)
    await page.wait_for_selector(until)
    await assert_one_thumb(page)
    await shot(page, name)


async def assert_one_thumb(page) -> None:
    """Nothing wider than the screen, and every link and button at least 44 CSS px tall."""
    sizes = await page.evaluate("""() => ({
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        small: [...document.querySelectorAll('a.weui-cell, a.weui-btn, button, .h5-nav a, .h5-grid a')]
            .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
            .map(e => e.textContent.trim()).slice(0, 5),
        font: parseFloat(getComputedStyle(document.body).fontSize)})""")
    wide = await page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
        .map(e => e.tagName + '.' + e.className + ':' + e.textContent.trim().slice(0, 20)).slice(0, 5)""")
    assert sizes["overflow"] <= 0, f"page wider than the screen by {sizes['overflow']}px: {wide}"
    assert sizes["small"] == [], f"targets under 44px: {sizes['small']}"
    assert sizes["font"] >= 18


async def test_book_a_slot_see_it_in_my_bookings_and_cancel_it(live, client, chromium):
    live.ctx.clock.set(at(23, 8, 30))
    headers, _ = await citizen(client)
    page = await phone(chromium, live)
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_in(page, headers["Authorization"].split()[1])
    await assert_one_thumb(page)
    await shot(page, "01-home")
    # Thursday at the center hall is fully booked (staff took every online place away).
    catalog, _ = await booking_flows.context(live.app)
    for start in catalog.slot_starts("center", at(26, 0).date()):
        await booking_flows.set_slot_quota(live.app, hall_code="center", day=at(26, 0).date(),
                                           start=start.strftime("%H:%M"), quota=0, hotline_quota=0)
    await tap(page, "text=预约办事", "text=第 1 步", "02-types")
    # A business done fully online says so instead of offering halls.
    await tap(page, "text=商品房预告登记", "text=全程网办，无需预约", "14-online-only")
    await page.go_back()
    await page.click("text=二手房转移登记")
    await tap(page, "text=中心大厅", "text=第 3 步", "03-days")
    assert await page.locator("[data-state=closed]", has_text="11月29日").count() == 1  # Sunday
    assert await page.locator("[data-state=full]", has_text="11月26日").count() == 1
    await tap(page, "text=11月24日", "text=选择时段", "04-slots")
    await tap(page, "text=09:00–09:30", "text=请核对预约信息", "05-confirm")
    await page.click("button:has-text('确认预约')")
    await page.wait_for_selector("text=预约成功")
    [booking] = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert await page.inner_text(".h5-code__value") == booking["code"]
    assert await page.locator(".h5-code svg").count() == 1
    await assert_one_thumb(page)
    await shot(page, "06-booked")
    await page.click(".h5-nav >> text=我的预约")
    await page.wait_for_selector("text=2026-11-24 09:00–09:30")
    await shot(page, "07-my-bookings")
    await page.click("text=2026-11-24 09:00–09:30")
    await page.click("button:has-text('取消预约')")
    await page.wait_for_selector("text=预约已取消")
    await shot(page, "08-cancelled")
    [after] = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert after["status"] == "cancelled"


async def test_look_up_a_case_by_receipt_number(live, client, chromium, ingest):  # noqa: F811
    id_number = make_id_number(birth="19880808", seq=321)
    receipt = "2026-1120-000777"
    # Case dates follow the real calendar (progress reads the wall clock): accepted two days ago.
    day = datetime.now(TZ).date() - timedelta(days=2)
    results = await ingest.send(created(receipt, [("王五", id_number)], accepted_at=f"{day}T10:00:00+08:00"),
                                stage(receipt, "reviewing", f"{day}T15:00:00+08:00"),
                                stage(receipt, "registered", f"{day + timedelta(days=1)}T09:30:00+08:00", seq=1))
    assert {r["status"] for r in results} == {"accepted"}
    page = await phone(chromium, live)
    await page.goto("/h5/progress")
    await page.fill("input[name=receipt_no]", receipt)
    await page.fill("input[name=id_last6]", "000000")
    await page.click("button:has-text('查询')")
    error = page.locator(".h5-box-error")
    assert "未查到办件" in await error.inner_text()
    assert "id_last6" not in page.url and "000000" not in page.url
    await shot(page, "10-progress-error")
    await page.fill("input[name=id_last6]", id_number[-6:])
    await page.click("button:has-text('查询')")
    await page.wait_for_selector("text=办理进度")
    titles = await page.locator(".weui-steps__item__title").all_inner_texts()
    assert titles[:3] == ["已受理", "审核中", "已登簿"]
    assert id_number[-6:] not in page.url
    await assert_one_thumb(page)
    await shot(page, "09-progress")


async def test_read_a_notice(live, client, chromium):
    token, publisher, notice_id = await member_with_notice(live, client)
    page = await phone(chromium, live)
    await sign_in(page, token, "/h5/inbox")
    assert await page.locator(".weui-badge").count() == 1
    await shot(page, "11-inbox")
    await page.click("text=周末临时加开服务窗口")
    await page.wait_for_selector(".h5-body")
    assert "临时加开服务窗口" in await page.inner_text(".h5-body")
    await shot(page, "12-notice")
    report = (await client.get(f"/api/staff/notices/{notice_id}/report", headers=publisher)).json()
    assert report["totals"]["read"] == 1
    await page.go_back()
    await page.reload()
    assert await page.locator(".weui-badge").count() == 0


async def test_200_percent_zoom_and_no_javascript_still_book(live, client, chromium):
    live.ctx.clock.set(at(23, 8, 30))
    headers, _ = await citizen(client)
    page = await phone(chromium, live, zoom=2, javascript=False)
    await sign_in(page, headers["Authorization"].split()[1],
                  "/h5/booking/confirm?bt=secondhand_transfer&hall=east&date=2026-11-25&start=14:00")
    await assert_one_thumb(page)
    await shot(page, "13-confirm-200-percent")
    await page.click("button:has-text('确认预约')")
    await page.wait_for_selector("text=预约成功")
    await assert_one_thumb(page)
    [booking] = (await client.get("/api/bookings", headers=headers)).json()["items"]
    assert (booking["hall"]["code"], booking["date"], booking["start"]) == ("east", "2026-11-25", "14:00")


async def test_ask_the_guide(live, chromium):
    page = await phone(chromium, live)
    await page.goto("/h5/guide")
    await page.fill("input[name=q]", "二手房过户要带什么材料")
    await page.click("button:has-text('问一问')")
    await page.wait_for_selector(".h5-body")
    expected = live.ctx.bot.answer("二手房过户要带什么材料")
    entry = next(e for e in live.ctx.bot.entries if e.id == expected.entry_id)
    assert entry.answer.splitlines()[0] in await page.inner_text(".h5-body")
    await assert_one_thumb(page)
    await shot(page, "15-guide-answer")


def through_wechat(fake, person, following: bool = True) -> None:
    """The phone's WeChat user: the fake WeChat's authorise page (settings.wechat_oauth_base) signs them in.

    `following`: opened from the account's menu, by a follower (WeChat tells a non-follower's unionid to nobody
    through user/info: a non-follower gets WeChat's snsapi_userinfo consent page, see `consent`).
    """
    fake.web_user = person
    if following:
        fake.follow(person.oa_openid)


async def consent(page, answer: str) -> None:
    """Tap 允许 ("allow") or 拒绝 ("deny") on the fake WeChat's snsapi_userinfo consent page."""
    await page.wait_for_selector("#allow")
    await page.click(f"#{answer}")
    if answer == "deny":
        await page.wait_for_selector("text=你已拒绝授权")


async def test_a_non_follower_opening_a_shared_link_is_asked_once_and_linked(live, client, chromium, fake_wechat):
    live.ctx.clock.set(at(23, 8, 30))
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="11:30")
    assert booked.status_code == 201, booked.text
    page = await phone(chromium, live)
    through_wechat(fake_wechat, person, following=False)
    fake_wechat.web_entry = "link"
    await page.goto("/h5/bookings")
    await consent(page, "allow")
    await page.wait_for_selector("text=2026-11-24 11:30")
    assert urlsplit(page.url).path == "/h5/bookings" and await page.locator("#unlinked").count() == 0
    asked = [c.query["scope"] for c in fake_wechat.calls if c.path == "connect/oauth2/authorize"]
    assert asked == ["snsapi_base", "snsapi_userinfo"]
    [cookie] = [c for c in await page.context.cookies() if c["name"] == CITIZEN_COOKIE]
    principal = await principal_for_token(live.app, cookie["value"])
    me = (await client.get("/api/mp/me", headers=headers)).json()
    assert (principal.id, principal.openid) == (me["id"], person.oa_openid)


async def test_opened_in_wechat_the_page_signs_in_as_the_person_of_the_mini_program(live, client, chromium,
                                                                                    fake_wechat, ingest):  # noqa: F811
    live.ctx.clock.set(at(23, 8, 30))
    person, headers = await mp_person(client, fake_wechat)
    booked = await book(client, headers, start="11:00")
    assert booked.status_code == 201, booked.text
    receipt = "2026-1120-000888"
    day = datetime.now(TZ).date() - timedelta(days=2)
    results = await ingest.send(
        created(receipt, [(person.name, person.id_number)], accepted_at=f"{day}T10:00:00+08:00"),
        stage(receipt, "reviewing", f"{day}T15:00:00+08:00"))
    assert {r["status"] for r in results} == {"accepted"}
    page = await phone(chromium, live)
    through_wechat(fake_wechat, person)
    await page.goto("/h5/cases")  # from the public account's menu, no session yet
    await page.wait_for_selector(f"text={receipt}")
    assert urlsplit(page.url).path == "/h5/cases"  # (the browser keeps the "#wechat_redirect" fragment)
    [authorised] = [c for c in fake_wechat.calls if c.path == "connect/oauth2/authorize"]
    assert authorised.status == 302 and authorised.query["scope"] == "snsapi_base"
    [cookie] = [c for c in await page.context.cookies() if c["name"] == CITIZEN_COOKIE]
    assert cookie["httpOnly"] and (await principal_for_token(live.app, cookie["value"])).openid == person.oa_openid
    await assert_one_thumb(page)
    await shot(page, "16-my-cases-signed-in-through-wechat")
    await page.click(".h5-nav >> text=我的预约")
    await page.wait_for_selector("text=2026-11-24 11:00")
    await page.click("text=2026-11-24 11:00")
    assert await page.inner_text(".h5-code__value") == booked.json()["code"]


async def test_a_public_account_user_binds_with_the_counter_code(live, client, chromium, fake_wechat):
    live.ctx.clock.set(at(23, 8, 30))
    person = fake_wechat.person("周晓梅", make_id_number(birth="19700505", seq=77))
    page = await phone(chromium, live)
    through_wechat(fake_wechat, person)
    await page.goto("/h5/binding?next=/h5/cases")
    await page.wait_for_selector("input[name=code]")
    await page.fill("input[name=code]", "12345678")
    await page.click("button:has-text('提交绑定码')")
    await page.wait_for_selector("#err-code")
    assert "绑定码无效" in await page.inner_text("#err-code")
    await assert_one_thumb(page)
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # the field with its error, the button
    await shot(page, "17-binding-counter-code")
    hall_staff = await staff_headers(client, role="hall_staff", hall_code="center")
    res = await client.post("/api/staff/binding-codes", headers=hall_staff, json={
        "name": person.name, "id_number": person.id_number, "mobile": make_mobile()})
    assert res.status_code == 201, res.text
    await page.fill("input[name=code]", res.json()["binding_code"])
    await page.click("button:has-text('提交绑定码')")
    await page.wait_for_url(lambda url: urlsplit(url).path == "/h5/cases")
    assert "没有找到您作为申请人的办件" in await page.inner_text("body")  # bound: the list, not "去实名认证"
    await page.goto("/h5/binding")
    assert "您已完成实名认证" in await page.inner_text("body")
    assert field_error(await page.content(), "code") is None


async def _bind_at_the_counter(page, client, person) -> None:
    hall_staff = await staff_headers(client, role="hall_staff", hall_code="center")
    res = await client.post("/api/staff/binding-codes", headers=hall_staff, json={
        "name": person.name, "id_number": person.id_number, "mobile": make_mobile()})
    assert res.status_code == 201, res.text
    await page.goto("/h5/binding?next=/h5/")
    await page.fill("input[name=code]", res.json()["binding_code"])
    await page.click("button:has-text('提交绑定码')")
    await page.wait_for_url(lambda url: urlsplit(url).path == "/h5/")


async def test_a_public_account_only_person_is_reminded_by_the_public_account_or_told_plainly(
        live, client, chromium, fake_wechat):
    """Issue 14: "提醒我" for a person who never opens the mini-program goes as a public-account template
    message (followers only); a person WeChat cannot reach is told so on the page instead of being offered it."""
    from server.booking import scheduled

    live.ctx.clock.set(at(23, 8, 30))
    follower = fake_wechat.person("吴志强", make_id_number(birth="19650303", seq=31))
    fake_wechat.follow(follower.oa_openid)
    page = await phone(chromium, live)
    through_wechat(fake_wechat, follower)
    await page.goto("/h5/binding?next=/h5/")
    await page.wait_for_selector("input[name=code]")
    await _bind_at_the_counter(page, client, follower)
    await page.goto("/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=09:00")
    await page.wait_for_selector("text=到厅前一天通过公众号消息提醒我")
    await page.click("text=到厅前一天通过公众号消息提醒我")  # the checkbox's label: ticked, as it was, or not
    if not await page.is_checked("input[name=subscribe]"):
        await page.click("text=到厅前一天通过公众号消息提醒我")
    await page.click("button:has-text('确认预约')")
    await page.wait_for_selector("text=预约成功")
    assert "已订阅，前一天通过公众号消息提醒您" in await page.inner_text("body")
    code = await page.inner_text(".h5-code__value")
    await assert_one_thumb(page)
    await page.locator("text=已订阅，前一天通过公众号消息提醒您").scroll_into_view_if_needed()
    await shot(page, "18-reminder-through-the-public-account")
    live.ctx.clock.set(at(23, 18, 0))
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 1
    assert await scheduled.send_reminders(live.ctx.job_ctx) == 0
    [sent] = fake_wechat.sent("template")
    assert sent["touser"] == follower.oa_openid and sent["data"]["character_string4"]["value"] == code
    assert fake_wechat.sent("subscribe") == []

    # Someone who does not follow the account and has no mini-program: said plainly, nothing offered.
    live.ctx.clock.set(at(23, 8, 30))
    stranger = fake_wechat.person("郑小红", make_id_number(birth="19800808", seq=42))
    other = await phone(chromium, live)
    through_wechat(fake_wechat, stranger, following=False)
    await other.goto("/h5/binding?next=/h5/")
    await consent(other, "deny")  # WeChat's consent page: refused, WeChat stays; the person opens the page again
    await other.goto("/h5/binding?next=/h5/")
    await other.wait_for_selector("input[name=code]")
    assert "小程序中的实名认证和预约不会在这里显示" in await other.inner_text("#unlinked")
    await _bind_at_the_counter(other, client, stranger)
    await other.goto("/h5/booking/confirm?bt=secondhand_transfer&hall=center&date=2026-11-24&start=10:00")
    await other.wait_for_selector("#reminder-unavailable")
    assert "微信无法向您发送到厅提醒" in await other.inner_text("#reminder-unavailable")
    assert await other.locator("input[name=subscribe]").count() == 0
    await other.click("button:has-text('确认预约')")
    await other.wait_for_selector("text=预约成功")
    assert await other.locator("button:has-text('提醒我')").count() == 0
    assert "关注公众号后刷新本页即可订阅" in await other.inner_text("#reminder-unavailable")
    await assert_one_thumb(other)
    await other.locator("#reminder-unavailable").scroll_into_view_if_needed()
    await shot(other, "19-reminder-not-possible")
