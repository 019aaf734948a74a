"""In a real browser: sign in, check a booking in, call its number and see it on the call screen."""

import time

from playwright.async_api import expect

from tests.booking.conftest import at, book, citizen
from tests.console.conftest import browser_login, make_staff, new_page, shot


async def test_check_in_call_and_see_it_on_the_screen(live, client, clock, browser):
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
    await tv.goto(url)
    await expect(tv.locator("#now-no")).to_have_text("---")
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
