"""In a real browser: the operations figures (business volume, visitors, bookings, check-ins, walk-ins, the online
rate per business type against the target) render with data; CSV and Excel exports carry the same numbers."""

import csv
import io
from datetime import datetime

from openpyxl import load_workbook
from playwright.async_api import expect

from models import Case
from tests.booking.conftest import at, book, citizen
from tests.console.conftest import browser_login, console_login, make_staff, new_page, shot

_n = iter(range(1, 10_000))


async def _case(day: str, hall: str, business_type: str, channel: str) -> None:
    when = datetime.fromisoformat(f"{day}T10:00:00+08:00")
    await Case.create(receipt_no=f"2026-0913-{next(_n):06d}", business_type=business_type, hall=hall,
                      stage="accepted", stage_at=when, accepted_at=when, channel=channel)


async def test_figures_chart_online_rates_and_exports(live, client, clock, browser):
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
    # Cases accepted that week: 2 of 3 online at the center, 1 of 1 at the east hall.
    for channel in ("online_self", "online_agent", "hall"):
        await _case("2026-11-24", "center", "secondhand_transfer", channel)
    await _case("2026-11-25", "east", "mortgage_first", "online_agent")
    clock.set(at(26, 9, 0))
    page = await new_page(browser, live)
    await browser_login(page, await make_staff("reviewer"))
    await page.goto("/console/figures/?start=2026-11-20&end=2026-11-26")
    await expect(page.locator("#t-bookings")).to_have_text("4")
    await expect(page.locator("#t-check_ins")).to_have_text("1")
    await expect(page.locator("#t-walk_ins")).to_have_text("1")
    await expect(page.locator("#t-visitors")).to_have_text("2")
    await expect(page.locator("#t-business_volume")).to_have_text("4")
    await expect(page.locator("#t-online_rate")).to_have_text("75.0%")
    rates = page.locator("#online-rates")
    await expect(page.locator("h2")).to_contain_text("目标 90%")
    overall = rates.locator("tr[data-type=all]")
    await expect(overall).to_contain_text("75.0%")
    await expect(overall).to_contain_text("未达标")
    await expect(rates.locator("tr[data-type=mortgage_first]")).to_contain_text("达标")
    await expect(rates.locator("tr[data-type=secondhand_transfer]")).to_contain_text("66.7%")
    await expect(page.locator("#figures-chart")).to_have_attribute("data-drawn", "1")
    await expect(page.locator("#figures-chart canvas")).to_have_count(1)
    await shot(page, "figures")
    await page.select_option("#f-hall", "center")
    await page.click("button:has-text('查询')")
    await expect(page.locator("h1")).to_contain_text("中心大厅")
    await expect(page.locator("#t-bookings")).to_have_text("3")
    await expect(page.locator("#t-business_volume")).to_have_text("3")
    xlsx = await page.request.get("/console/figures/export/xlsx?hall=center&start=2026-11-20&end=2026-11-26")
    sheet = load_workbook(io.BytesIO(await xlsx.body()))["运营数据"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("期间", "大厅", "预约量", "签到数")
    day = next(r for r in rows if r[0] == "2026-11-24")
    assert day[1:8] == ("center", 3, 1, 0, 1, 2, 3)
    weekly = await page.request.get("/console/figures/export/csv?start=2026-11-20&end=2026-11-26&by=week")
    table = list(csv.reader(io.StringIO((await weekly.body()).decode("utf-8-sig"))))
    week = next(r for r in table if r[:2] == ["2026-11-23", "all"])
    assert week[2:8] == ["4", "1", "0", "1", "2", "4"] and week[8] == "75.0%"
    # A reversed range is refused next to the field; a desk may not see the center's figures.
    await page.goto("/console/figures/?start=2026-11-26&end=2026-11-20")
    await expect(page.locator("#e-end")).to_have_text("结束日期不能早于开始日期")
    hall = await console_login(live, "hall_staff", "center")
    assert (await hall.get("/console/figures/")).status_code == 403
    await hall.aclose()
