"""通知: an organisation member reads the center's notices on the pages; opening one records the read receipt."""

from __future__ import annotations

import pytest

from tests.factories import login_citizen, staff_headers
from tests.h5.conftest import Browser
from tests.notices.conftest import write_config
from tests.notices.helpers import create_notice, invite, make_org, report, submit, wait_status


@pytest.fixture
def settings(settings):
    write_config(settings.home)
    return settings.model_copy(update={"jobs_backend": "inline"})


async def member_with_notice(live, client, *, title: str = "周末临时加开服务窗口") -> tuple[str, dict, int]:
    """A citizen who joined an organisation and one notice sent to it: (token, publisher headers, notice id)."""
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin, name="示例银行城东支行")
    token = await login_citizen(client)
    code = (await invite(client, admin, org["id"]))["code"]
    res = await client.post("/api/mp/org/join", headers={"Authorization": f"Bearer {token}"}, json={"code": code})
    assert res.status_code == 200, res.text
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"org_ids": [org["id"]]}, title=title)
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    return token, publisher, notice["id"]


async def test_member_reads_a_notice_and_the_receipt_is_counted(live, client, browser: Browser):
    token, publisher, notice_id = await member_with_notice(live, client)
    browser.sign_in({"Authorization": f"Bearer {token}"})
    inbox = await browser.get("/h5/inbox")
    assert inbox.status_code == 200 and "周末临时加开服务窗口" in inbox.text and "未读 1 条" in inbox.text
    api = (await client.get("/api/mp/inbox", headers={"Authorization": f"Bearer {token}"})).json()
    [item] = api["items"]
    assert f'href="/h5/inbox/{item["id"]}"' in inbox.text and item["read"] is False
    assert (await report(client, publisher, notice_id))["totals"]["read"] == 0
    opened = await browser.get(f"/h5/inbox/{item['id']}")
    assert opened.status_code == 200 and item["body"] in opened.text and "已读" in opened.text
    assert (await report(client, publisher, notice_id))["totals"]["read"] == 1
    again = await browser.get("/h5/inbox")
    assert "未读 0 条" in again.text
    # Another person cannot open it, and their inbox is empty.
    other = await login_citizen(client)
    browser.sign_in({"Authorization": f"Bearer {other}"})
    assert (await browser.get(f"/h5/inbox/{item['id']}")).status_code == 404
    assert "暂无通知" in (await browser.get("/h5/inbox")).text
