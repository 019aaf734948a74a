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


async def _pending_push(live, client, ingest, fake_wechat) -> tuple[CaseNotification, str]:
    """A stage push waiting to be sent to a citizen with no consent left yet (the first try met 43101)."""
    headers, id_number = await bound_citizen(client)
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    assert (await client.post(f"/api/mp/cases/{RNO}/subscribe", headers=headers)).status_code == 200
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    citizen = await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, id_number))
    row = await CaseNotification.get(citizen_id=citizen.id)
    assert row.status == "failed" and row.error == "43101"  # no consent: WeChat refused, nothing delivered
    await CaseNotification.filter(id=row.id).update(status="pending", error=None, attempted_at=None)
    assert fake_wechat.sent("subscribe", touser=citizen.openid) == []
    return row, citizen.openid


async def _crash(live, row: CaseNotification, *, call: str) -> None:
    """Run the push job's own steps and stop as a killed runner would: after the claim ("none"), after noting the
    attempt ("noted"), or after WeChat accepted the message ("accepted"); the claim then ages past STUCK_AFTER."""
    from server.catalog import service as catalog_service
    from server.progress import messaging

    keys = dict(stage_entry_id=row.stage_entry_id, citizen_id=row.citizen_id)
    assert await service.claim_notification(**keys)
    if call in ("noted", "accepted"):
        await service.mark_attempt(**keys)
    if call == "accepted":
        content = await service.push_content(**keys, catalog=await catalog_service.load(),
                                             rules=service.rules_for(live.ctx.settings))
        await messaging.send_stage_change(live.ctx.job_ctx, content)  # over HTTP to the fake WeChat
    long_ago = datetime.now(UTC) - service.STUCK_AFTER - timedelta(minutes=1)
    await CaseNotification.filter(id=row.id).update(claimed_at=long_ago)
    assert (await CaseNotification.get(id=row.id)).status == "sending"


async def _sweep(live, times: int = 2) -> None:
    for _ in range(times):  # a second sweep changes nothing
        await scheduled.sweep_pending(live.ctx.job_ctx)
        await live.ctx.jobs.drain()


async def test_push_crashed_after_wechat_accepted_is_retried_and_reaches_the_citizen_once(
        live, client, ingest, fake_wechat):
    row, openid = await _pending_push(live, client, ingest, fake_wechat)
    template_id = service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
    fake_wechat.accept_subscription(openid, template_id, times=1)
    await _crash(live, row, call="accepted")
    assert len(fake_wechat.sent("subscribe", touser=openid)) == 1
    delivered_at = (await CaseNotification.get(id=row.id)).attempted_at
    await _sweep(live)
    assert len(fake_wechat.sent("subscribe", touser=openid)) == 1  # the resend met 43101: consent already used
    done = await CaseNotification.get(id=row.id)
    assert done.status == "sent" and done.error == service.CONSENT_USED  # delivered before the crash
    assert done.sent_at == done.attempted_at == delivered_at  # when the interrupted attempt reached the citizen


async def test_push_crashed_before_the_wechat_call_is_sent_once_by_the_sweep(live, client, ingest, fake_wechat):
    row, openid = await _pending_push(live, client, ingest, fake_wechat)
    template_id = service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
    fake_wechat.accept_subscription(openid, template_id, times=1)
    await _crash(live, row, call="none")
    await _sweep(live)
    assert len(fake_wechat.sent("subscribe", touser=openid)) == 1
    done = await CaseNotification.get(id=row.id)
    assert done.status == "sent" and done.error is None
    # Crashed after noting the attempt but before the request left: the resend is the one delivery.
    await CaseNotification.filter(id=row.id).update(status="pending", error=None, attempted_at=None)
    fake_wechat.accept_subscription(openid, template_id, times=1)
    await _crash(live, row, call="noted")
    await _sweep(live)
    assert len(fake_wechat.sent("subscribe", touser=openid)) == 2
    done = await CaseNotification.get(id=row.id)
    assert done.status == "sent" and done.error is None
    # A fresh claim (a runner still working) is left alone.
    await CaseNotification.filter(id=row.id).update(status="sending", claimed_at=datetime.now(UTC), attempted_at=None)
    await _sweep(live, times=1)
    assert (await CaseNotification.get(id=row.id)).status == "sending"
    assert len(fake_wechat.sent("subscribe", touser=openid)) == 2


async def test_a_resend_refused_for_another_reason_is_a_failure(live, client, ingest, fake_wechat):
    row, openid = await _pending_push(live, client, ingest, fake_wechat)
    template_id = service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
    fake_wechat.accept_subscription(openid, template_id, times=1)
    await _crash(live, row, call="noted")
    fake_wechat.fail_next("cgi-bin/message/subscribe/send", 40003)  # invalid openid: not about the consent
    await _sweep(live)
    done = await CaseNotification.get(id=row.id)
    assert done.status == "failed" and done.error == "40003"
    assert fake_wechat.sent("subscribe", touser=openid) == []


async def _consent(live, fake, id_number: str, times: int = 5) -> None:
    """The citizen tapped 允许 for the stage message (WeChat answers 43101 to a one-time send without it)."""
    citizen = await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, id_number))
    template_id = service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
    fake.accept_subscription(citizen.openid, template_id, times=times)


async def test_a_promised_date_in_a_provisional_calendar_year_is_marked_as_provisional(live, client, ingest):
    _, id_number = await bound_citizen(client)
    # Tuesday 29 December 2026 + 3 working days over 元旦 2027 (calendar.yaml: 2027 provisional) → 4 January 2027.
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-12-29T09:00:00+08:00"))
    data = await _lookup(client, id_number)
    assert data["promised_date"] == "2027-01-04" and data["promised_date_provisional"] is True
    assert "承诺办结日期：2027-01-04（暂定：2027年节假日安排尚未公布" in service.stage_text(data)
    await ingest.send(created("2026-1008-000778", [("张三", id_number)], accepted_at="2026-12-01T09:00:00+08:00"))
    res = await client.post("/api/progress/lookup", json={"receipt_no": "2026-1008-000778",
                                                          "id_last6": id_number[-6:]})
    assert res.json()["promised_date_provisional"] is False
    assert "暂定" not in service.stage_text(res.json())
