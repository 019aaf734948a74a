"""In a real browser: the hotline picks a slot from the hotline share's places and books for a caller."""

from playwright.async_api import expect

from models import Booking
from tests.booking.conftest import at, citizen
from tests.console.conftest import browser_login, make_staff, new_page, shot


async def test_hotline_books_from_the_slot_picker(live, client, clock, browser):
    clock.set(at(23, 9, 30))  # the hotline answers 9:00–17:00 on working days (center.yaml)
    _, id_number = await citizen(client)
    page = await new_page(browser, live)
    await browser_login(page, await make_staff("hotline"))
    await page.goto("/console/hotline")
    await page.fill("#f-name", "赵六")
    await page.fill("#f-id_number", id_number)
    await page.fill("#f-mobile", "13900001111")
    await page.select_option("#f-business_type", "change")
    await page.fill("#f-date", "2026-11-24")
    await page.select_option("#f-hall", "south")
    await expect(page.locator("select#f-start option").first).to_contain_text("09:00–09:30（余")
    await page.select_option("select#f-start", "09:30")
    await shot(page, "hotline")
    await page.click("button:has-text('预约')")
    await expect(page.locator(".flash")).to_contain_text("已为来电人预约：2026-11-24 09:30 城南大厅")
    booking = await Booking.get()
    assert (booking.channel, booking.start, booking.hall_code) == ("hotline", "09:30", "south")
    assert id_number not in await page.content()
