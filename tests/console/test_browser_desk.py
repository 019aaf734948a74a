"""In a real browser: sign in, check a booking in, call its number and see it on the call screen with the hall's
rotating check-in QR; issue a counter binding code after checking an ID card."""

import time
from datetime import timedelta

from playwright.async_api import expect

from models import AuditLog
from tests.booking.conftest import at, book, citizen, unique_id_number
from tests.console.conftest import browser_login, make_staff, new_page, shot
from tests.factories import login_citizen


async def test_check_in_call_and_see_it_on_the_screen(live, client, clock, browser, fake_wechat):
    headers, id_number = await citizen(client, name="李四")
    booking = (await book(client, headers, hall="center", start="10:00")).json()
    others = [await citizen(client) for _ in range(3)]
    for h, _ in others:
        await book(client, h, hall="center", start="10:30")
    clock.set(at(24, 9, 45))
    username = await make_staff("hall_staff", "center")
    desk = await new_page(browser, live)
    await browser_login(desk, username)
    await desk.goto("/console/desk")
    await expect(desk.locator("h1")).to_contain_text("中心大厅")
    await expect(desk.locator("nav.side a")).to_have_count(1)  # a hall desk sees its desk only
    # Check in by code with a wrong ID number first: the message sits by the field.
    await desk.fill("#f-code", booking["code"])
    await desk.fill("#f-id_number", "110101199003070000")
    await desk.click("#checkin")
    await expect(desk.locator("#e-id_number")).to_be_visible()
    await desk.fill("#f-code", "DJBK:" + booking["code"])
    await desk.fill("#f-id_number", id_number)
    await desk.click("#checkin")
    await expect(desk.locator(".flash")).to_contain_text("签到成功")
    await expect(desk.locator(".flash")).to_contain_text("排队号 001")
    assert id_number not in await desk.content()
    await shot(desk, "desk")
    # The hall's TV: a long-lived screen link, no staff login.
    await desk.click("text=生成大屏链接")
    url = await desk.locator("#screen-url").input_value()
    tv_context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    tv = await tv_context.new_page()
    # Two seconds before the QR's five-minute window turns: the screen fetches the next code on its own.
    clock.set(at(24, 9, 50) - timedelta(seconds=2))
    await tv.goto(url)
    await expect(tv.locator("#now-no")).to_have_text("---")
    qr = tv.locator("#checkin-qr")
    await expect(qr).to_be_visible()
    first = await qr.get_attribute("src")
    assert first.startswith("data:image/svg+xml")
    scenes = [q["action_info"]["scene"]["scene_str"] for q in fake_wechat.qrcodes]
    assert scenes and scenes[-1].startswith("hall:center:")
    clock.set(at(24, 9, 50) + timedelta(seconds=5))
    await expect(qr).not_to_have_attribute("src", first, timeout=15000)
    assert len({q["action_info"]["scene"]["scene_str"] for q in fake_wechat.qrcodes}) >= 2
    assert (await live.http.get(url.replace("/screen?", "/screen/qr?").replace("token=", "token=x"))).status_code == 403
    await expect(tv.locator("body")).to_have_attribute("data-live", "1")
    await desk.fill("#f-window", "5")
    clicked = time.monotonic()
    await desk.click("#call-next")
    await expect(tv.locator("#now-no")).to_have_text("001", timeout=1000)
    assert time.monotonic() - clicked < 1.0
    await expect(tv.locator("#now-win")).to_have_text("请到 5 号窗口")
    await expect(desk.locator("#current-no")).to_have_text("001")
    await shot(tv, "call-screen")
    await shot(desk, "desk-queue")
    await tv_context.close()


async def test_desk_issues_a_counter_binding_code_after_the_id_card_check(live, client, clock, browser):

    clock.set(at(24, 9, 45))
    desk = await new_page(browser, live)
    await browser_login(desk, await make_staff("hall_staff", "center"))
    await desk.goto("/console/halls/center/desk")
    id_number = unique_id_number()
    await desk.fill("#f-bind_name", "王五")
    await desk.fill("#f-bind_id_number", id_number)
    await desk.click("#issue-binding-code")
    await expect(desk.locator("#e-bind_checked")).to_have_text("请先核验身份证原件")
    await desk.fill("#f-bind_name", "王五")
    await desk.fill("#f-bind_id_number", "110101199003070000")
    await desk.check("#f-bind_checked")
    await desk.click("#issue-binding-code")
    await expect(desk.locator("#e-bind_id_number")).to_be_visible()
    await desk.fill("#f-bind_name", "王五")
    await desk.fill("#f-bind_id_number", id_number)
    await desk.check("#f-bind_checked")
    await desk.click("#issue-binding-code")
    code = (await desk.locator("#binding-code").inner_text()).strip()
    assert len(code) == 8 and code.isdigit() and id_number not in await desk.content()
    await shot(desk, "desk-binding-code")
    assert await AuditLog.filter(action="identity.binding_code.issue").exists()
    # The code binds a citizen once, like one issued through POST /api/staff/binding-codes.
    headers = {"authorization": f"Bearer {await login_citizen(client)}"}
    res = await client.post("/api/mp/binding/counter", headers=headers, json={"binding_code": code})
    assert res.status_code == 200 and res.json()["bound"] is True and res.json()["verification"] == "counter"
    res = await client.post("/api/mp/binding/counter", headers=headers, json={"binding_code": code})
    assert res.status_code in (409, 422)
