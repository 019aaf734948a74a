"""Cases know their filing channel and their clock: the promised date stops during 补正, a case in 补正 is not
overdue; stage pushes stuck in "sending" after a crash are retried, never sent twice; 电子证照 in push and lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import Case, CaseNotification, Citizen
from server.progress import scheduled, service
from tests.factories import bound_citizen
from tests.progress.conftest import created, stage

RNO = "2026-1008-000777"


async def _lookup(client, id_number: str) -> dict:
    res = await client.post("/api/progress/lookup", json={"receipt_no": RNO, "id_last6": id_number[-6:]})
    assert res.status_code == 200, res.text
    return res.json()


async def test_filing_channel_is_taken_from_ingest_and_defaults_to_unknown(live, client, ingest):
    _, id_number = await bound_citizen(client)
    results = await ingest.send(created(RNO, [("张三", id_number)], channel="online_agent"),
                                created("2026-1008-000778", [("张三", id_number)]),
                                created("2026-1008-000779", [("张三", id_number)], channel="fax"))
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected"]
    assert results[2]["error"]["code"] == "VALIDATION_ERROR"
    assert (await Case.get(receipt_no=RNO)).channel == "online_agent"
    assert (await Case.get(receipt_no="2026-1008-000778")).channel == "unknown"
    assert (await _lookup(client, id_number))["channel"] == "online_agent"


async def test_promised_date_stops_during_correction_and_a_case_waiting_for_it_is_not_overdue(live, client, ingest):
    _, id_number = await bound_citizen(client)
    # Thursday 8 October 2026; 3 working days (Saturday 10th is a make-up workday) → Monday 12th.
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    assert (await _lookup(client, id_number))["promised_date"] == "2026-10-12"
    await ingest.send(stage(RNO, "correction_required", "2026-10-09T10:00:00+08:00", missing_materials=["婚姻证明"]))
    data = await _lookup(client, id_number)
    # Long past the 12th, but the clock stands still while the citizen corrects: not overdue.
    assert data["overdue"] is False and data["clock_stopped"] is True and data["status_label"] == "待补正"
    overdue = await service.overdue(catalog=await _catalog(live), rules=service.rules_for(live.ctx.settings))
    assert overdue["total"] == 0
    # Back on Tuesday 13th: Fri 9th, Sat 10th (workday) and Mon 12th stood still → 3 more working days.
    await ingest.send(stage(RNO, "reviewing", "2026-10-13T09:30:00+08:00"))
    data = await _lookup(client, id_number)
    assert data["promised_date"] == "2026-10-15" and data["clock_stopped"] is False
    assert data["overdue"] is True  # today (well after the 15th) it is overdue again
    overdue = await service.overdue(catalog=await _catalog(live), rules=service.rules_for(live.ctx.settings))
    assert overdue["total"] == 1


async def _catalog(live):
    from server.catalog import service as catalog_service

    return await catalog_service.get(live.app)


async def test_e_certificate_number_and_link_reach_the_push_and_the_lookup(live, client, ingest, fake_wechat):
    headers, id_number = await bound_citizen(client)
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    assert (await client.post(f"/api/mp/cases/{RNO}/subscribe", headers=headers)).status_code == 200
    await _consent(live, fake_wechat, id_number)
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"),
                      stage(RNO, "registered", "2026-10-09T10:00:00+08:00"))
    results = await ingest.send(stage(RNO, "e_certificate", "2026-10-10T10:00:00+08:00", e_cert_no="DZZZ-2026-0001",
                                      e_cert_url="https://zz.example.gov.cn/c/DZZZ-2026-0001"))
    assert results[0]["status"] == "accepted", results
    await live.ctx.jobs.drain()
    sent = fake_wechat.wait_sent("subscribe", 3)
    last = next(b for b in sent if b["data"]["phrase3"]["value"] == "电子发证")  # a phrase holds 5 characters
    assert last["data"]["thing5"]["value"] == "电子证照 DZZZ-2026-0001"
    assert last["page"].endswith("e_cert_no=DZZZ-2026-0001")
    data = await _lookup(client, id_number)
    assert data["e_certificate"] == {"number": "DZZZ-2026-0001", "url": "https://zz.example.gov.cn/c/DZZZ-2026-0001"}
    bad = await ingest.send(stage(RNO, "archived", "2026-10-11T10:00:00+08:00", e_cert_url="javascript:alert(1)"))
    assert bad[0]["status"] == "rejected"


async def test_push_stuck_in_sending_after_a_crash_is_retried_once_never_twice(live, client, ingest, fake_wechat):
    headers, id_number = await bound_citizen(client)
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    assert (await client.post(f"/api/mp/cases/{RNO}/subscribe", headers=headers)).status_code == 200
    await _consent(live, fake_wechat, id_number)
    citizen = await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, id_number))
    # Two changes whose pushes a crashed runner left in "sending" (the jobs never ran: subscription off then on).
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    before = len(fake_wechat.sent("subscribe"))
    await ingest.send(stage(RNO, "registered", "2026-10-09T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    rows = await CaseNotification.filter(citizen_id=citizen.id).order_by("id")
    assert len(rows) == 2 and len(fake_wechat.sent("subscribe")) == before + 1
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    # First: claimed but crashed before reaching WeChat. Second: crashed after the call may have left.
    await CaseNotification.filter(id=rows[0].id).update(status="sending", claimed_at=long_ago, attempted_at=None)
    await CaseNotification.filter(id=rows[1].id).update(status="sending", claimed_at=long_ago, attempted_at=long_ago)
    sent_before = len(fake_wechat.sent("subscribe"))
    await scheduled.sweep_pending(live.ctx.job_ctx)
    await live.ctx.jobs.drain()
    await scheduled.sweep_pending(live.ctx.job_ctx)  # a second sweep changes nothing
    await live.ctx.jobs.drain()
    first, second = [await CaseNotification.get(id=r.id) for r in rows]
    assert first.status == "sent" and second.status == "failed" and second.error == "RESULT_UNKNOWN"
    assert len(fake_wechat.sent("subscribe")) == sent_before + 1
    # A fresh claim (a runner still working) is left alone.
    await CaseNotification.filter(id=rows[0].id).update(status="sending", claimed_at=datetime.now(UTC),
                                                        attempted_at=None)
    await scheduled.sweep_pending(live.ctx.job_ctx)
    assert (await CaseNotification.get(id=rows[0].id)).status == "sending"


async def _consent(live, fake, id_number: str, times: int = 5) -> None:
    """The citizen tapped 允许 for the stage message (WeChat answers 43101 to a one-time send without it)."""
    citizen = await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, id_number))
    template_id = service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
    fake.accept_subscription(citizen.openid, template_id, times=times)
