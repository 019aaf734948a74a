"""Stage-change pushes: consent, exactly one send per change, transient retries, permanent failures."""

from __future__ import annotations

import asyncio

from models import CaseNotification, CaseSubscription, Citizen
from server.progress import scheduled, service
from tests.factories import bound_citizen
from tests.progress.conftest import created, stage

RNO = "2026-0930-000123"
SEND = "/cgi-bin/message/subscribe/send"


async def _subscribed_case(client, ingest, live, fake=None, consents: int = 3):
    """A bound citizen subscribed to RNO in the mini-program; ``consents`` one-time 允许 taps given to WeChat."""
    headers, id_number = await bound_citizen(client, name="张三")
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    res = await client.post(f"/api/mp/cases/{RNO}/subscribe", headers=headers)
    assert res.status_code == 200 and res.json() == {"receipt_no": RNO, "subscribed": True}
    citizen = await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, id_number))
    if fake is not None:
        template_id = service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
        fake.accept_subscription(citizen.openid, template_id, times=consents)
    return headers, citizen


async def test_stage_change_pushes_once_even_if_the_job_runs_again(live, client, ingest, fake_wechat):
    _, citizen = await _subscribed_case(client, ingest, live, fake_wechat)
    event = stage(RNO, "correction_required", "2026-10-08T10:00:00+08:00", event_id="ev-corr",
                  missing_materials=["婚姻证明"])
    await ingest.send(event)
    await ingest.send(event)  # the business system resends: still one change
    await live.ctx.jobs.drain()
    sent = fake_wechat.wait_sent("subscribe", 1)
    assert len(sent) == 1
    body = sent[0]
    assert body["touser"] == citizen.openid
    assert body["template_id"] == service.rules_for(live.ctx.settings).templates["stage_changed"]["template_id"]
    assert body["data"]["phrase3"]["value"] == "待补正" and body["data"]["thing5"]["value"] == "婚姻证明"
    assert body["page"].endswith(RNO)
    notification = await CaseNotification.get(citizen_id=citizen.id)
    assert notification.status == "sent"
    # The job run again, twice at once (a redelivery): nothing more is sent.
    outcomes = await asyncio.gather(*(scheduled.notify_stage_change(
        live.ctx.job_ctx, stage_entry_id=notification.stage_entry_id, citizen_id=citizen.id) for _ in range(2)))
    assert outcomes == ["skipped", "skipped"]
    assert len(fake_wechat.sent("subscribe")) == 1


async def test_two_claimants_only_one_sends(live, client, ingest, fake_wechat):
    _, citizen = await _subscribed_case(client, ingest, live, fake_wechat)
    # Build the pending row as ingest does, but run the job only by hand, twice concurrently.
    await CaseSubscription.filter(citizen_id=citizen.id).update(active=False)
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"))
    await CaseSubscription.filter(citizen_id=citizen.id).update(active=True)
    await ingest.send(stage(RNO, "registered", "2026-10-09T10:00:00+08:00", event_id="ev-reg"))
    await live.ctx.jobs.drain()
    n = await CaseNotification.get(citizen_id=citizen.id)
    await CaseNotification.filter(id=n.id).update(status="pending")  # as if the first send was lost before sending
    count_before = len(fake_wechat.sent("subscribe"))
    outcomes = await asyncio.gather(*(scheduled.notify_stage_change(
        live.ctx.job_ctx, stage_entry_id=n.stage_entry_id, citizen_id=citizen.id) for _ in range(4)))
    assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(fake_wechat.sent("subscribe")) == count_before + 1


async def test_no_push_without_consent_or_for_late_events(live, client, ingest, fake_wechat):
    headers, citizen = await _subscribed_case(client, ingest, live, fake_wechat)
    await ingest.send(stage(RNO, "registered", "2026-10-09T10:00:00+08:00"))
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"))  # late: history only
    await live.ctx.jobs.drain()
    assert len(fake_wechat.wait_sent("subscribe", 1)) == 1
    assert (await client.delete(f"/api/mp/cases/{RNO}/subscribe", headers=headers)).json()["subscribed"] is False
    await ingest.send(stage(RNO, "certificate", "2026-10-10T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    assert len(fake_wechat.sent("subscribe")) == 1
    assert await CaseNotification.filter(citizen_id=citizen.id).count() == 1


async def test_transient_error_is_retried(live, client, ingest, fake_wechat):
    _, citizen = await _subscribed_case(client, ingest, live, fake_wechat)
    await live.ctx.mp.token()  # fetch the token first so the failure hits the send itself
    fake_wechat.fail_next(SEND, -1)
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    assert len(fake_wechat.wait_sent("subscribe", 1)) == 1
    assert [c.errcode for c in fake_wechat.calls_to(SEND)] == [-1, 0]
    n = await CaseNotification.get(citizen_id=citizen.id)
    assert (n.status, n.tries) == ("sent", 2)


async def test_permanent_error_is_not_retried(live, client, ingest, fake_wechat):
    _, citizen = await _subscribed_case(client, ingest, live, fake_wechat)
    fake_wechat.fail_openids[citizen.openid] = 43101
    await ingest.send(stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    await asyncio.sleep(0.2)
    assert [c.errcode for c in fake_wechat.calls_to(SEND)] == [43101]
    n = await CaseNotification.get(citizen_id=citizen.id)
    assert (n.status, n.error) == ("failed", "43101")
    assert fake_wechat.sent("subscribe") == []


async def test_every_stage_fits_the_phrase_field(live, client, ingest, fake_wechat):
    """WeChat takes at most 5 Chinese characters in a phrase field (47003 otherwise): "已发放电子证照" (7) may not
    be sent as it is, and the push for that stage still goes out."""
    import re

    rules = service.rules_for(live.ctx.settings)
    for info in rules.stages.values():
        assert re.fullmatch(r"[\u4e00-\u9fff]{1,5}", info.phrase), info
    _, citizen = await _subscribed_case(client, ingest, live, fake_wechat, consents=2)
    await ingest.send(stage(RNO, "registered", "2026-10-09T10:00:00+08:00"),
                      stage(RNO, "e_certificate", "2026-10-10T10:00:00+08:00"))
    await live.ctx.jobs.drain()
    sent = fake_wechat.wait_sent("subscribe", 2)
    # The two stage jobs may send in either order: compare the set of phrases sent.
    phrases = sorted(s["data"]["phrase3"]["value"] for s in sent)
    assert phrases == sorted(["已登簿", rules.stage("e_certificate").phrase])
    assert [c.errcode for c in fake_wechat.calls_to(SEND)] == [0, 0]
    assert await CaseNotification.filter(citizen_id=citizen.id, status="sent").count() == 2
