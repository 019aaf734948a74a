"""The main console pages in a real browser at a desk's 1366×768 and at 200% zoom; screenshots for the README."""

import uuid

from playwright.async_api import expect

from server.progress import service as progress
from tests.booking.conftest import at, book, citizen
from tests.console.conftest import ARGS, browser_login, make_staff, new_page, shot  # noqa: F401
from tests.factories import make_id_number, staff_headers
from tests.progress.conftest import Ingest, created

PAGES = {"review": "/console/review", "hotline": "/console/hotline", "cases": "/console/cases",
         "calendar": "/console/calendar?hall=center&day=2026-11-24", "staff-audit": "/console/staff",
         "home": "/console/", "hall-settings": "/console/calendar/halls/center"}


async def _no_sideways_scroll(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 1, f"{page.url} scrolls sideways by {width}px"


async def test_main_pages_at_desk_size_and_200_percent(live, client, clock, browser):
    admin_api = await staff_headers(client)
    await client.put("/api/staff/halls/west", headers=admin_api, json={"review_mode": True})
    for name in ("王小明", "李丽", "张伟"):
        headers, _ = await citizen(client, name=name)
        await book(client, headers, hall="west")
    key, secret = await progress.create_client(cipher=live.ctx.cipher, name=f"bdc-{uuid.uuid4().hex[:6]}")
    ingest = Ingest(client, key.key_id, secret)
    for i in range(3):
        await ingest.send(created(f"2026-0930-00012{i}", [("张三丰", make_id_number(seq=105 + i))],
                                  business_type="mortgage_first"))
    page = await new_page(browser, live)
    await page.goto("/console/login")
    await shot(page, "login")
    await browser_login(page, await make_staff("admin"))
    for name, path in PAGES.items():
        res = await page.goto(path)
        assert res.status == 200, path
        await _no_sideways_scroll(page)
        await shot(page, name)
    # The same desk screen at 200% zoom: 683×384 CSS pixels drawn at twice the density.
    zoomed = await browser.new_context(viewport={"width": 683, "height": 384}, device_scale_factor=2,
                                       locale="zh-CN", base_url=live.url)
    small = await zoomed.new_page()
    await browser_login(small, await make_staff("hall_staff", "center"))
    clock.set(at(24, 9, 45))
    await small.goto("/console/halls/center/desk")
    await expect(small.locator("h1")).to_contain_text("中心大厅")
    await _no_sideways_scroll(small)
    await shot(small, "desk-200-percent")
    for path in ("/console/password",):
        await small.goto(path)
        await _no_sideways_scroll(small)
    await zoomed.close()
