"""In a real browser: compose a notice with the live reach preview, send it and read its delivery report;
a role that may not open a page is refused."""

import pytest
from playwright.async_api import expect

from models import Notice
from tests.console.conftest import browser_login, make_staff, new_page, shot
from tests.factories import staff_headers
from tests.notices.helpers import join, make_org


@pytest.fixture
def settings(settings):
    """Delivery jobs run in this process (also with real Redis), so the test can wait for them."""
    return settings.model_copy(update={"jobs_backend": "inline"})


async def test_compose_send_and_report(live, client, fake_wechat, browser):
    admin = await staff_headers(client)
    bank = await make_org(client, admin, name="城东农商银行", type="bank", district="城东区")
    await join(client, fake_wechat, admin, bank["id"])
    await join(client, fake_wechat, admin, bank["id"])
    await make_org(client, admin, name="安居房产中介", type="agency", district="城西区")
    page = await new_page(browser, live)
    await browser_login(page, await make_staff("publisher"))
    await page.click("nav.side >> text=通知公告")
    await page.click("text=新建通知")
    await page.fill("#f-title", "周末临时加开服务窗口")
    await page.select_option("#f-category", "business")
    await page.fill("#f-body", "本周六、周日中心大厅临时加开两个服务窗口，欢迎预约办理。")
    await page.check("input[name=types][value=bank]")
    await expect(page.locator("#reach-orgs")).to_have_text("1")
    await expect(page.locator("#reach-members")).to_have_text("2")
    await shot(page, "notice-compose")
    # A bad title (too short) comes back by its field, with the API's message, and nothing is saved.
    await page.fill("#f-title", "周")
    await page.click("#save-draft")
    publisher = await staff_headers(client, role="publisher")
    api = await client.post("/api/staff/notices", headers=publisher, json={
        "title": "周", "body": "正文内容", "category": "business", "target": {"types": ["bank"]}})
    title_error = next(d["message"] for d in api.json()["error"]["details"] if d["field"] == "title")
    await expect(page.locator("#e-title")).to_have_text(title_error)
    assert await Notice.all().count() == 0
    await page.fill("#f-title", "周末临时加开服务窗口")
    await page.click("#save-draft")
    await expect(page.locator("#notice-status")).to_have_text("草稿")
    await page.click("#submit-notice")
    notice = await Notice.get(title="周末临时加开服务窗口")
    # 业务通知 needs a second pair of eyes: a reviewer approves it, and only then it goes out.
    await expect(page.locator("#notice-status")).to_have_text("待审核")
    reviewer = await new_page(browser, live)
    await browser_login(reviewer, await make_staff("reviewer"))
    await reviewer.goto(f"/console/notices/{notice.id}")
    await reviewer.click("button[name=decision][value=approve]")
    await expect(reviewer.locator("#notice-status")).not_to_have_text("待审核")
    await live.ctx.jobs.drain(timeout=10)
    for _ in range(50):
        await page.goto(f"/console/notices/{notice.id}")
        if await page.locator("#notice-status").inner_text() == "已发送":
            break
        await live.ctx.jobs.drain(timeout=0.2)
    await expect(page.locator("#notice-status")).to_have_text("已发送")
    await expect(page.locator("#r-sent")).to_have_text("2")
    await expect(page.locator("#report-chart")).to_have_attribute("data-drawn", "1")
    await expect(page.locator("#report-chart canvas")).to_have_count(1)
    await shot(page, "notice-report")
    csv = await page.request.get(f"/console/notices/{notice.id}/report.csv")
    assert csv.ok and "城东农商银行" in (await csv.body()).decode("utf-8-sig")


async def test_a_role_is_refused_a_page_it_may_not_see(live, browser):
    page = await new_page(browser, live)
    await browser_login(page, await make_staff("hotline"))
    await expect(page.locator("nav.side a", has_text="人员与审计")).to_have_count(0)
    res = await page.goto("/console/staff")
    assert res.status == 403
    await expect(page.locator("main")).to_contain_text("当前账号角色无权访问此页面")
    await shot(page, "refused")
    res = await page.goto("/console/notices/new")
    assert res.status == 403
