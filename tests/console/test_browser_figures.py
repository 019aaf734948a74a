"""In a real browser: the figures chart renders with data; CSV and Excel exports carry the same numbers."""

import io

from openpyxl import load_workbook
from playwright.async_api import expect

from tests.booking.conftest import at, book, citizen
from tests.console.conftest import browser_login, console_login, make_staff, new_page, shot


async def test_figures_chart_and_exports(live, client, clock, browser):
    people = [await citizen(client) for _ in range(3)]
    for h, _ in people:
        assert (await book(client, h, hall="center", start="10:00")).status_code == 201
    assert (await book(client, people[0][0], hall="east", date="2026-11-25")).status_code == 201
    clock.set(at(24, 9, 45))
    desk = await console_login(live, "hall_staff", "center")
    res = await desk.post("/console/halls/center/checkin", {"id_number": people[1][1]})
    assert "签到成功" in res.text
    await desk.post("/console/halls/center/walkin", {"business_type": "mortgage_first",
                                                      "channel": "personal_guarantee_mortgage"})
    await desk.aclose()
    clock.set(at(26, 9, 0))
    page = await new_page(browser, live)
    await browser_login(page, await make_staff("reviewer"))
    await page.goto("/console/figures/?start=2026-11-20&end=2026-11-26")
    await expect(page.locator("#t-booked")).to_have_text("4")
    await expect(page.locator("#t-checked_in")).to_have_text("1")
    await expect(page.locator("#t-walk_ins")).to_have_text("1")
    await expect(page.locator("#figures-chart")).to_have_attribute("data-drawn", "1")
    await expect(page.locator("#figures-chart canvas")).to_have_count(1)
    await shot(page, "figures")
    await page.select_option("#f-hall", "center")
    await page.click("button:has-text('查询')")
    await expect(page.locator("h1")).to_contain_text("中心大厅")
    await expect(page.locator("#t-booked")).to_have_text("3")
    xlsx = await page.request.get("/console/figures/export/xlsx?hall=center&start=2026-11-20&end=2026-11-26")
    sheet = load_workbook(io.BytesIO(await xlsx.body())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:3] == ("日期", "预约", "签到") and ("2026-11-24", 3, 1, 0, 0, 1) in rows
    csv = await page.request.get("/console/figures/export/csv?start=2026-11-20&end=2026-11-26")
    assert "2026-11-25,1,0,0,0,0" in (await csv.body()).decode("utf-8-sig")
    # A reversed range is refused next to the field; a desk may not see the center's figures.
    await page.goto("/console/figures/?start=2026-11-26&end=2026-11-20")
    await expect(page.locator("#e-end")).to_have_text("结束日期不能早于开始日期")
    hall = await console_login(live, "hall_staff", "center")
    assert (await hall.get("/console/figures/")).status_code == 403
    await hall.aclose()
