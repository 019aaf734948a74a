"""Notices: targeting and preview, review flow, scheduling, withdrawal, delivery, inbox, reports."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

from models import NoticeDelivery
from notices import delivery
from tests.factories import login_citizen, staff_headers
from tests.notices.helpers import create_notice, join, make_org, report, submit, wait_status


async def _world(client, fake):
    """Banks, a developer, an agency (one suspended org), each with members."""
    admin = await staff_headers(client, role="admin")
    orgs = {
        "bank_east": await make_org(client, admin, type="bank", district="城东区", business_lines=["抵押"],
                                    tags=["网办银行"]),
        "bank_west": await make_org(client, admin, type="bank", district="城西区", business_lines=["抵押", "预告"]),
        "fund": await make_org(client, admin, type="housing_fund", district="城东区", business_lines=["预告"]),
        "dev": await make_org(client, admin, type="developer", district="新区", business_lines=["新房办证"]),
        "agency": await make_org(client, admin, type="agency", district="城西区", business_lines=["转移登记"]),
        "agency_off": await make_org(client, admin, type="agency", district="城东区"),
    }
    sizes = {"bank_east": 2, "bank_west": 1, "fund": 1, "dev": 3, "agency": 2, "agency_off": 2}
    openids: dict[str, list[str]] = {}
    for key, n in sizes.items():
        openids[key] = [(await join(client, fake, admin, orgs[key]["id"]))[1] for _ in range(n)]
    await client.patch(f"/api/staff/orgs/{orgs['agency_off']['id']}", headers=admin, json={"suspended": True})
    return admin, orgs, openids


async def test_targeting_preview_combinations(client, fake_wechat):
    admin, orgs, _ = await _world(client, fake_wechat)
    publisher = await staff_headers(client, role="publisher")

    async def preview(target):
        res = await client.post("/api/staff/notices/preview", headers=publisher, json={"target": target})
        assert res.status_code == 200, res.text
        return res.json()["organizations"], res.json()["members"]

    assert await preview({"all": True}) == (5, 9)  # the suspended agency is never reached
    assert await preview({"types": ["developer", "agency"]}) == (2, 5)  # OR within a dimension
    assert await preview({"types": ["bank"], "districts": ["城东区"]}) == (1, 2)  # AND across dimensions
    assert await preview({"business_lines": ["预告"]}) == (2, 2)
    assert await preview({"business_lines": ["抵押"], "tags": ["网办银行"]}) == (1, 2)
    assert await preview({"org_ids": [orgs["dev"]["id"], orgs["agency_off"]["id"]]}) == (1, 3)
    assert await preview({"districts": ["城東區"]}) == (2, 3)  # Traditional input understood
    empty = await client.post("/api/staff/notices/preview", headers=publisher, json={"target": {}})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "TARGET_EMPTY"
    mixed = await client.post("/api/staff/notices/preview", headers=publisher,
                              json={"target": {"all": True, "types": ["bank"]}})
    assert mixed.status_code == 422 and mixed.json()["error"]["code"] == "TARGET_INVALID"


async def test_send_delivers_once_per_member_with_inbox_and_reports(live, client, fake_wechat):
    admin, orgs, openids = await _world(client, fake_wechat)
    publisher = await staff_headers(client, role="publisher")
    notice = await create_notice(client, publisher, target={"types": ["developer", "agency"]})
    assert notice["status"] == "draft"
    await submit(client, publisher, notice["id"])  # "business" needs no review
    done = await wait_status(live, client, publisher, notice["id"])
    assert done["recipients"] == 5

    sent = fake_wechat.sent("template")
    expected = openids["dev"] + openids["agency"]
    assert sorted(b["touser"] for b in sent) == sorted(expected)  # each member exactly once, nobody else
    assert sent[0]["template_id"] == "TPL_ORG" and sent[0]["url"] == f"https://example.org/notices/{notice['id']}"
    assert sent[0]["data"]["thing1"]["value"] == "周末临时加开服务窗口" and "first" not in sent[0]["data"]
    rows = await NoticeDelivery.filter(notice_id=notice["id"])
    assert len(rows) == 5 and all(r.status == "sent" and r.msgid and r.attempts == 1 for r in rows)

    # The member reads it in the mini-program inbox; the read receipt shows up in the report.
    member_headers = {"Authorization": f"Bearer {await login_citizen(client, 'reader')}"}
    inbox = (await client.get("/api/mp/inbox", headers=member_headers)).json()
    assert inbox["total"] == 0  # not a member
    reader, reader_openid = await join(client, fake_wechat, admin, orgs["dev"]["id"])
    notice2 = await create_notice(client, publisher, target={"org_ids": [orgs["dev"]["id"]]}, title="新房办证材料调整")
    await submit(client, publisher, notice2["id"])
    await wait_status(live, client, publisher, notice2["id"])
    inbox = (await client.get("/api/mp/inbox", headers=reader)).json()
    assert inbox["total"] == 1 and inbox["unread"] == 1 and inbox["items"][0]["title"] == "新房办证材料调整"
    item = inbox["items"][0]
    assert item["attachments"][0]["url"] == "https://example.org/guide.pdf"
    res = await client.post(f"/api/mp/inbox/{item['id']}/read", headers=reader)
    assert res.status_code == 200 and res.json()["read"] is True
    assert (await client.post(f"/api/mp/inbox/{item['id']}/read", headers=member_headers)).status_code == 404
    assert (await client.get("/api/mp/inbox", headers=reader)).json()["unread"] == 0

    rep = await report(client, publisher, notice2["id"])
    assert rep["totals"] == {"recipients": 4, "pending": 0, "sending": 0, "sent": 4, "failed": 0, "read": 1}
    assert rep["organizations"][0]["read"] == 1 and rep["organizations"][0]["sent"] == 4

    csv_res = await client.get(f"/api/staff/notices/{notice['id']}/report.csv", headers=publisher)
    assert csv_res.status_code == 200 and csv_res.headers["content-type"].startswith("text/csv")
    assert csv_res.content.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    table = list(csv.reader(io.StringIO(csv_res.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["通知编号", "通知标题", "机构"]
    by_org = {r[2]: r for r in table[1:]}
    assert by_org[orgs["dev"]["name"]][3] == "开发企业" and by_org[orgs["dev"]["name"]][6] == "3"
    assert by_org["合计"][5:9] == ["5", "5", "0", "0"]
    # Hall staff cannot see reports.
    hall = await staff_headers(client, role="hall_staff")
    assert (await client.get(f"/api/staff/notices/{notice['id']}/report.csv", headers=hall)).status_code == 403


async def test_review_flow_and_permissions(live, client, fake_wechat):
    admin, orgs, openids = await _world(client, fake_wechat)
    publisher = await staff_headers(client, role="publisher")
    reviewer = await staff_headers(client, role="reviewer")
    hotline = await staff_headers(client, role="hotline")
    body = {"title": "加开服务日", "body": "周六加开", "category": "service_day", "target": {"types": ["bank"]}}
    assert (await client.post("/api/staff/notices", headers=hotline, json=body)).status_code == 403
    assert (await client.post("/api/staff/notices", headers=reviewer, json=body)).status_code == 403
    bad = await client.post("/api/staff/notices", headers=publisher, json={**body, "category": "gossip"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "UNKNOWN_CATEGORY"
    bad_url = await client.post("/api/staff/notices", headers=publisher,
                                json={**body, "attachments": [{"name": "x", "url": "javascript:alert(1)"}]})
    assert bad_url.status_code == 422

    notice = await create_notice(client, publisher, category="service_day", target={"types": ["bank"]})
    pending = await submit(client, publisher, notice["id"])
    assert pending["status"] == "pending_review"
    await asyncio.sleep(0.2)
    assert fake_wechat.sent("template") == []  # nothing leaves before review
    again = await client.post(f"/api/staff/notices/{notice['id']}/submit", headers=publisher, json={})
    assert again.status_code == 409
    # A publisher cannot review; the reviewer rejects with a reason, the publisher edits and resubmits.
    assert (await client.post(f"/api/staff/notices/{notice['id']}/review", headers=publisher,
                              json={"decision": "approve"})).status_code == 403
    no_reason = await client.post(f"/api/staff/notices/{notice['id']}/review", headers=reviewer,
                                  json={"decision": "reject"})
    assert no_reason.status_code == 422
    rejected = await client.post(f"/api/staff/notices/{notice['id']}/review", headers=reviewer,
                                 json={"decision": "reject", "comment": "请写明具体时间"})
    assert rejected.json()["status"] == "rejected"
    edited = await client.patch(f"/api/staff/notices/{notice['id']}", headers=publisher,
                                json={"body": "3 月 21–22 日（周六、周日）9:00–17:00 加开服务窗口"})
    assert edited.status_code == 200 and edited.json()["status"] == "draft"
    await submit(client, publisher, notice["id"])
    approved = await client.post(f"/api/staff/notices/{notice['id']}/review", headers=reviewer,
                                 json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] in ("approved", "sending", "sent")
    await wait_status(live, client, publisher, notice["id"])
    assert sorted(b["touser"] for b in fake_wechat.sent("template")) == sorted(
        openids["bank_east"] + openids["bank_west"])
    twice = await client.post(f"/api/staff/notices/{notice['id']}/review", headers=reviewer,
                              json={"decision": "approve"})
    assert twice.status_code == 409

    # Four eyes: an admin who drafted a notice cannot approve it.
    own = await create_notice(client, admin, category="service_day", target={"all": True})
    await submit(client, admin, own["id"])
    self_review = await client.post(f"/api/staff/notices/{own['id']}/review", headers=admin,
                                    json={"decision": "approve"})
    assert self_review.status_code == 403 and self_review.json()["error"]["code"] == "SELF_REVIEW"


async def test_scheduled_send_and_withdraw(live, client, fake_wechat):
    admin, orgs, openids = await _world(client, fake_wechat)
    publisher = await staff_headers(client, role="publisher")
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    notice = await create_notice(client, publisher, target={"types": ["housing_fund"]})
    scheduled = await submit(client, publisher, notice["id"], scheduled_at=at.isoformat())
    assert scheduled["status"] == "scheduled"
    await asyncio.sleep(0.5)
    assert fake_wechat.sent("template") == []  # deferred, not yet
    await wait_status(live, client, publisher, notice["id"])
    first = await NoticeDelivery.get(notice_id=notice["id"])
    assert first.sent_at >= at - timedelta(milliseconds=50)
    assert [b["touser"] for b in fake_wechat.sent("template")] == openids["fund"]

    # Withdrawn before its time: never sent, even when the deferred job fires.
    later = await create_notice(client, publisher, target={"types": ["developer"]})
    await submit(client, publisher, later["id"], scheduled_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    res = await client.post(f"/api/staff/notices/{later['id']}/withdraw", headers=publisher)
    assert res.status_code == 200 and res.json()["status"] == "withdrawn"
    await asyncio.sleep(1.3)
    await live.ctx.jobs.drain(timeout=2)
    await delivery.sweep(live.ctx.job_ctx)
    assert len(fake_wechat.sent("template")) == 1
    assert not await NoticeDelivery.filter(notice_id=later["id"]).exists()
    # After sending, withdrawal is refused.
    refused = await client.post(f"/api/staff/notices/{notice['id']}/withdraw", headers=publisher)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NOTICE_NOT_WITHDRAWABLE"
    edit = await client.patch(f"/api/staff/notices/{notice['id']}", headers=publisher, json={"title": "改标题"})
    assert edit.status_code == 409
    tz_less = await client.post(f"/api/staff/notices/{later['id']}/submit", headers=publisher,
                                json={"scheduled_at": "2030-01-01T09:00:00"})
    assert tz_less.status_code == 422


async def test_public_notice_reaches_hall_subscribers(live, client, fake_wechat):
    publisher = await staff_headers(client, role="publisher")
    halls = [h async for h in _hall_codes()]
    assert len(halls) >= 2, "the live app seeds the sample data's six halls"
    citizens = []
    for i, codes in enumerate([[halls[0]], [halls[0], halls[1]], [halls[1]]]):
        headers = {"Authorization": f"Bearer {await login_citizen(client, f'pub-{i}')}"}
        res = await client.post("/api/mp/notices/subscriptions", headers=headers,
                                json={"hall_codes": [c.upper() for c in codes]})
        assert res.status_code == 200 and res.json()["hall_codes"] == sorted(codes)
        citizens.append((headers, fake_wechat.openid_for(f"pub-{i}")))
        fake_wechat.accept_subscription(citizens[-1][1], "TPL_PUBLIC")  # 允许 tapped when subscribing
    unknown = await client.post("/api/mp/notices/subscriptions", headers=citizens[0][0],
                                json={"hall_codes": ["atlantis"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "UNKNOWN_HALL"
    assert (await client.delete(f"/api/mp/notices/subscriptions/{halls[1]}", headers=citizens[2][0])).status_code == 200

    prev = await client.post("/api/staff/notices/preview", headers=publisher,
                             json={"audience": "public", "target": {"halls": [halls[0]]}})
    assert prev.json()["members"] == 2
    notice = await create_notice(client, publisher, audience="public", target={"halls": [halls[0], halls[1]]},
                                 title="周末加开服务日通知")
    await submit(client, publisher, notice["id"])
    await wait_status(live, client, publisher, notice["id"])
    sent = fake_wechat.sent("subscribe")
    assert sorted(b["touser"] for b in sent) == sorted([citizens[0][1], citizens[1][1]])  # once each
    assert sent[0]["template_id"] == "TPL_PUBLIC" and len(sent[0]["data"]["thing1"]["value"]) <= 20
    assert fake_wechat.sent("template") == []
    inbox = (await client.get("/api/mp/inbox", headers=citizens[1][0])).json()
    assert inbox["items"][0]["title"] == "周末加开服务日通知"


async def _hall_codes():
    from models import Hall

    for code in await Hall.all().order_by("id").values_list("code", flat=True):
        yield code
