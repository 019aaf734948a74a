"""Notices over HTTP: review needs a reason to reject, nobody reviews their own, withdraw, schedule, preview."""

import pytest

from models import Notice
from tests.console.conftest import console_login
from tests.factories import staff_headers
from tests.notices.helpers import make_org


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"jobs_backend": "inline"})


FORM = {"title": "清明节假期服务安排", "category": "policy", "body": "清明节假期期间各大厅暂停对外服务。",
        "audience": "orgs", "all": "1"}


async def test_review_schedule_withdraw_and_preview(live, client):
    await make_org(client, await staff_headers(client), name="城东农商银行")
    publisher = await console_login(live, "publisher")
    reviewer = await console_login(live, "reviewer")
    res = await publisher.post("/console/notices/preview", {"audience": "orgs"})
    assert "请选择推送对象" in res.text
    res = await publisher.post("/console/notices/preview", {"audience": "orgs", "all": "1"})
    assert 'id="reach-orgs">1<' in res.text
    res = await publisher.post("/console/notices/new", FORM | {"all": "", "types": "bank", "halls": "center"})
    assert res.status_code == 422 and "面向机构的通知不能按大厅推送" in res.text and await Notice.all().count() == 0
    res = await publisher.post("/console/notices/new", FORM)
    assert res.status_code == 302
    notice = await Notice.get()
    res = await publisher.post(f"/console/notices/{notice.id}/submit", {"scheduled_at": "2099-01-01T09:00"})
    assert res.status_code == 422 and 'id="e-scheduled_at"' in res.text and "90 天" in res.text
    res = await publisher.post(f"/console/notices/{notice.id}/submit", {})
    assert (await Notice.get(id=notice.id)).status == "pending_review"
    res = await publisher.post(f"/console/notices/{notice.id}/review", {"decision": "approve"})
    assert res.status_code == 403  # a publisher does not review
    res = await reviewer.post(f"/console/notices/{notice.id}/review", {"decision": "reject", "comment": ""})
    assert res.status_code == 422 and 'id="e-comment"' in res.text
    assert (await Notice.get(id=notice.id)).status == "pending_review"
    res = await reviewer.post(f"/console/notices/{notice.id}/review", {"decision": "reject", "comment": "日期有误"})
    assert (await Notice.get(id=notice.id)).status == "rejected"
    page = await publisher.get(f"/console/notices/{notice.id}")
    assert "日期有误" in page.text
    res = await publisher.post(f"/console/notices/{notice.id}/withdraw")
    assert res.status_code == 302 and (await Notice.get(id=notice.id)).status == "withdrawn"
    res = await publisher.post(f"/console/notices/{notice.id}/withdraw")
    assert res.status_code == 409 and "不能撤回" in res.text
    listing = await reviewer.get("/console/notices/", params={"status": "withdrawn"})
    assert "清明节假期服务安排" in listing.text
    await publisher.aclose()
    await reviewer.aclose()
