"""Test helpers for notices: organisations, members joined over HTTP, notices driven to the end."""

from __future__ import annotations

import asyncio
import itertools

from tests.factories import login_citizen, person_code
from tests.wechat.helpers import WeChatServer, event_xml

_n = itertools.count(1)


async def make_org(client, admin, **fields) -> dict:
    body = {"name": f"测试机构{next(_n)}", "type": "bank", "district": "城东区", "business_lines": [], "tags": []}
    body.update(fields)
    res = await client.post("/api/staff/orgs", headers=admin, json=body)
    assert res.status_code == 201, res.text
    return res.json()


async def invite(client, admin, org_id: int, **body) -> dict:
    res = await client.post(f"/api/staff/orgs/{org_id}/invitations", headers=admin, json=body)
    assert res.status_code == 201, res.text
    return res.json()


async def follow(client, fake, oa_openid: str) -> None:
    """The person follows the public account: WeChat pushes the subscribe event to /wechat."""
    res = await WeChatServer(client, fake.appid, fake).post(event_xml(oa_openid, "subscribe"))
    assert res.status_code == 200, res.text


async def join(client, fake, admin, org_id: int, *, code: str | None = None, is_admin: bool = False,
               follows_oa: bool = True):
    """A new person logs in to the mini-program and joins the organisation; return (headers, openid reached).

    A person who also follows the public account is reached there (template messages, public-account openid);
    one known only in the mini-program is reached by its subscribe message (mini-program openid).
    """
    login_code = code or f"member-{next(_n)}"
    token = await login_citizen(client, person_code(login_code))
    headers = {"Authorization": f"Bearer {token}"}
    inv = await invite(client, admin, org_id, is_admin=is_admin)
    res = await client.post("/api/mp/org/join", headers=headers, json={"code": inv["code"]})
    assert res.status_code == 200, res.text
    if not follows_oa:
        return headers, fake.openid_for(login_code)
    oa_openid = fake.openid_in(fake.appid, login_code)
    fake.follow(oa_openid)  # template messages go to followers only (WeChat answers 43004 otherwise)
    await follow(client, fake, oa_openid)
    return headers, oa_openid


async def create_notice(client, publisher, *, target: dict, category: str = "business", audience: str = "orgs",
                        title: str = "周末临时加开服务窗口",
                        body: str = "3 月 21–22 日周末两天临时加开服务窗口。") -> dict:
    res = await client.post("/api/staff/notices", headers=publisher, json={
        "title": title, "body": body, "category": category, "audience": audience, "target": target,
        "attachments": [{"name": "办事指南", "url": "https://example.org/guide.pdf"}]})
    assert res.status_code == 201, res.text
    return res.json()


async def submit(client, publisher, notice_id: int, **body) -> dict:
    res = await client.post(f"/api/staff/notices/{notice_id}/submit", headers=publisher, json=body)
    assert res.status_code == 200, res.text
    return res.json()


async def wait_status(live, client, staff, notice_id: int, status: str = "sent", timeout: float = 20) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await live.ctx.jobs.drain(timeout=0.2)
        res = await client.get(f"/api/staff/notices/{notice_id}", headers=staff)
        if res.json()["status"] == status:
            return res.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"notice {notice_id} is {res.json()['status']}, expected {status}")
        await asyncio.sleep(0.05)


async def report(client, staff, notice_id: int) -> dict:
    res = await client.get(f"/api/staff/notices/{notice_id}/report", headers=staff)
    assert res.status_code == 200, res.text
    return res.json()
