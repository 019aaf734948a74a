"""通知: an organisation member reads the center's notices on the pages; opening one records the read receipt."""

from __future__ import annotations

import pytest

from models import NoticeDelivery
from server.core.auth import CITIZEN_COOKIE, principal_for_token
from tests.factories import login_citizen, staff_headers
from tests.h5.conftest import Browser, sign_in_through_wechat
from tests.notices.conftest import write_config
from tests.notices.helpers import create_notice, follow, invite, make_org, report, submit, wait_status
from tests.wechat.helpers import WeChatServer, event_xml


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


async def _publish(live, client, admin, org_id: int, title: str) -> tuple[dict, int]:
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"org_ids": [org_id]}, title=title)
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    return publisher, notice["id"]


async def test_a_member_who_joined_in_the_mini_program_reads_on_the_pages_signed_in_through_wechat(
        live, client, fake_wechat, browser: Browser):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin, name="示例银行城西支行")
    person = fake_wechat.person()
    token = (await client.post("/api/mp/login", json={"code": person.mp_code()})).json()["token"]
    code = (await invite(client, admin, org["id"]))["code"]
    res = await client.post("/api/mp/org/join", headers={"Authorization": f"Bearer {token}"}, json={"code": code})
    assert res.status_code == 200, res.text
    publisher, notice_id = await _publish(live, client, admin, org["id"], "抵押登记窗口调整")
    # Known only in the mini-program: the delivery row carries the mini-program openid.
    [delivery] = await NoticeDelivery.filter(notice_id=notice_id)
    assert delivery.openid == person.mp_openid
    # The page session comes from the public account's web authorisation: it carries the public-account openid.
    inbox = await sign_in_through_wechat(browser, fake_wechat, person, "/h5/inbox")
    principal = await principal_for_token(live.app, browser.http.cookies[CITIZEN_COOKIE])
    assert principal.openid == person.oa_openid
    assert "抵押登记窗口调整" in inbox.text and "未读 1 条" in inbox.text
    opened = await browser.get(f"/h5/inbox/{delivery.id}")
    assert opened.status_code == 200 and "已读" in opened.text
    assert (await report(client, publisher, notice_id))["totals"]["read"] == 1
    assert "未读 0 条" in (await browser.get("/h5/inbox")).text
    assert all(c.errcode != 40003 for c in fake_wechat.calls)


async def test_a_member_who_joined_in_the_public_account_reads_on_the_pages_with_a_mini_program_session(
        live, client, fake_wechat, browser: Browser):
    admin = await staff_headers(client, role="admin")
    org = await make_org(client, admin, name="示例中介公司")
    person = fake_wechat.person()
    invitation = await invite(client, admin, org["id"])
    await follow(client, fake_wechat, person.oa_openid)
    # Scanning the invitation QR in the public account joins with the public-account openid.
    await WeChatServer(client, fake_wechat.appid).post(event_xml(person.oa_openid, "SCAN", key=invitation["scene"]))
    publisher, notice_id = await _publish(live, client, admin, org["id"], "不动产登记费减免通知")
    [delivery] = await NoticeDelivery.filter(notice_id=notice_id)
    assert delivery.openid == person.oa_openid
    # The same person signs the pages in with a mini-program session (the development sign-in takes its token).
    token = (await client.post("/api/mp/login", json={"code": person.mp_code()})).json()["token"]
    browser.sign_in({"Authorization": f"Bearer {token}"})
    inbox = await browser.get("/h5/inbox")
    assert "不动产登记费减免通知" in inbox.text and "未读 1 条" in inbox.text
    opened = await browser.get(f"/h5/inbox/{delivery.id}")
    assert opened.status_code == 200 and "已读" in opened.text
    assert (await report(client, publisher, notice_id))["totals"]["read"] == 1
