"""Ingest from the registration business system: auth, idempotency, batches, ordering, transitions, dates."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date

from models import Case, CaseApplicant, CaseEvent, CaseStageEntry, IngestClient
from server.progress import service
from tests.factories import make_id_number
from tests.progress.conftest import created, stage

RNO = "2026-0930-000123"


async def test_auth_refuses_unknown_key_bad_signature_stale_and_missing(live, client, ingest):
    event = created(RNO, [("张三", make_id_number())])
    body = json.dumps(event).encode()

    res = await client.post("/api/ingest/events", content=body, headers=ingest.headers(body, key_id="dk_nope"))
    assert (res.status_code, res.json()["error"]["code"]) == (401, "INGEST_UNKNOWN_KEY")

    res = await client.post("/api/ingest/events", content=body, headers=ingest.headers(body, secret="wrong"))
    assert (res.status_code, res.json()["error"]["code"]) == (401, "INGEST_BAD_SIGNATURE")

    # A valid signature over a different body (tampered in transit) fails too.
    tampered = body.replace(b"center", b"east__")
    res = await client.post("/api/ingest/events", content=tampered, headers=ingest.headers(body))
    assert (res.status_code, res.json()["error"]["code"]) == (401, "INGEST_BAD_SIGNATURE")

    stale = int(time.time()) - 301
    res = await client.post("/api/ingest/events", content=body, headers=ingest.headers(body, timestamp=stale))
    assert (res.status_code, res.json()["error"]["code"]) == (401, "INGEST_STALE_TIMESTAMP")

    res = await client.post("/api/ingest/events", content=body, headers={"Content-Type": "application/json"})
    assert (res.status_code, res.json()["error"]["code"]) == (401, "INGEST_AUTH_MISSING")

    assert not await Case.exists(receipt_no=RNO)

    await IngestClient.filter(key_id=ingest.key_id).update(active=False)
    service._client_cache.clear()
    res = await client.post("/api/ingest/events", content=body, headers=ingest.headers(body))
    assert (res.status_code, res.json()["error"]["code"]) == (403, "INGEST_CLIENT_DISABLED")
    assert not await Case.exists(receipt_no=RNO)


async def test_client_secret_is_not_stored_in_clear(live):
    client, secret = await service.create_client(cipher=live.ctx.cipher, name="bdc-secret")
    row = await IngestClient.get(id=client.id)
    assert secret not in row.secret_enc
    assert live.ctx.cipher.decrypt(row.secret_enc) == secret


async def test_single_event_creates_case_with_hashed_applicants(live, ingest):
    id_a, id_b = make_id_number(seq=11), make_id_number(seq=12)
    res = await ingest.post(created(RNO, [("张三", id_a), ("李四", id_b)], delivery_method="ems"))
    assert res.status_code == 200, res.text
    assert res.json()["results"][0]["status"] == "accepted"
    case = await Case.get(receipt_no=RNO)
    assert case.stage == "accepted" and case.delivery_method == "ems"
    applicants = await CaseApplicant.filter(case_id=case.id)
    assert len(applicants) == 2
    stored = json.dumps([a.__dict__ for a in applicants], default=str) + json.dumps(
        (await CaseEvent.get(receipt_no=RNO)).payload)
    for secret in (id_a, id_b, "张三", "李四", id_a[-6:]):
        assert secret not in stored


async def test_same_event_twice_is_a_duplicate_and_changes_nothing(live, ingest):
    event = created(RNO, [("张三", make_id_number())], event_id="ev-1")
    assert (await ingest.send(event))[0]["status"] == "accepted"
    assert (await ingest.send(event))[0] == {"event_id": "ev-1", "status": "duplicate"}
    change = stage(RNO, "reviewing", "2026-10-08T09:00:00+08:00", event_id="ev-2")
    results = await asyncio.gather(*(ingest.send(change) for _ in range(5)))
    statuses = sorted(r[0]["status"] for r in results)
    assert statuses == ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert await Case.filter(receipt_no=RNO).count() == 1
    assert await CaseEvent.filter(receipt_no=RNO).count() == 2
    assert await CaseStageEntry.filter(case__receipt_no=RNO).count() == 2


async def test_batch_with_a_bad_event_keeps_the_others(live, ingest):
    good1 = created(RNO, [("张三", make_id_number())])
    bad_type = created("2026-0930-000124", [("李四", make_id_number())], business_type="no_such_thing")
    malformed = {"event_id": "ev-bad", "type": "case.created", "occurred_at": "yesterday", "data": {}}
    bad_id = created("2026-0930-000125", [("王五", "123456")])
    unknown_case = stage("2099-0101-000001", "reviewing", "2026-10-08T09:00:00+08:00")
    good2 = stage(RNO, "reviewing", "2026-10-08T09:00:00+08:00")
    res = await ingest.post({"events": [good1, bad_type, malformed, bad_id, unknown_case, good2]})
    assert res.status_code == 200
    body = res.json()
    assert (body["accepted"], body["rejected"], body["duplicate"]) == (2, 4, 0)
    codes = [r.get("error", {}).get("code") for r in body["results"]]
    assert codes == [None, "BUSINESS_TYPE_NOT_FOUND", "VALIDATION_ERROR", "INVALID_ID_NUMBER", "CASE_NOT_FOUND", None]
    assert all("message" in r["error"] for r in body["results"] if r["status"] == "rejected")
    assert (await Case.get(receipt_no=RNO)).stage == "reviewing"
    assert not await Case.filter(receipt_no__in=["2026-0930-000124", "2026-0930-000125"]).exists()
    # A rejected event is not stored, so the sender can correct and resend it under the same id.
    assert not await CaseEvent.exists(event_id="ev-bad")


async def test_bad_bodies_are_4xx(live, client, ingest):
    for body in (b"not json", b"[]", b'{"events": []}', b'{"events": {"a": 1}}',
                 json.dumps({"events": [{}] * 501}).encode()):
        res = await client.post("/api/ingest/events", content=body, headers=ingest.headers(body))
        assert res.status_code == 400, body[:20]
        assert res.json()["error"]["code"] in {"INVALID_JSON", "INVALID_BATCH", "BATCH_TOO_LARGE"}


async def test_out_of_order_events_never_move_the_stage_back(live, ingest, client):
    id_number = make_id_number(seq=31)
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    # registered (newest) arrives before reviewing; then a late reviewing arrives and a seq tie-break.
    results = await ingest.send(
        stage(RNO, "registered", "2026-10-09T15:00:00+08:00", event_id="e-reg"),
        stage(RNO, "reviewing", "2026-10-08T14:00:00+08:00", event_id="e-rev"),
    )
    assert [(r["status"], r["applied"]) for r in results] == [("accepted", True), ("accepted", False)]
    case = await Case.get(receipt_no=RNO)
    assert case.stage == "registered"
    results = await ingest.send(
        stage(RNO, "ready", "2026-10-12T10:00:00+08:00", seq=2, event_id="e-ready"),
        stage(RNO, "certificate", "2026-10-12T10:00:00+08:00", seq=1, event_id="e-cert"),
    )
    assert [r["applied"] for r in results] == [True, False]
    res = await client.post("/api/progress/lookup", json={"receipt_no": RNO, "id_last6": id_number[-6:]})
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["stage"] == "ready" and data["stage_label"] == "待领证"
    assert [h["stage"] for h in data["history"]] == ["accepted", "reviewing", "registered", "certificate", "ready"]
    assert await CaseEvent.filter(receipt_no=RNO).count() == 5


async def test_concurrent_stage_events_for_one_case_stay_consistent(live, ingest):
    await ingest.send(created(RNO, [("张三", make_id_number())], accepted_at="2026-10-08T09:00:00+08:00"))
    events = [stage(RNO, "reviewing", "2026-10-08T10:00:00+08:00"),
              stage(RNO, "registered", "2026-10-09T10:00:00+08:00"),
              stage(RNO, "certificate", "2026-10-09T11:00:00+08:00"),
              stage(RNO, "ready", "2026-10-09T12:00:00+08:00")]
    # Every arrival order must end on the newest stage; illegal jumps may be refused but never applied.
    await asyncio.gather(*(ingest.send(e) for e in reversed(events)))
    for e in events:
        await ingest.send(e)
    case = await Case.get(receipt_no=RNO)
    assert case.stage == "ready"
    history = await CaseStageEntry.filter(case_id=case.id).order_by("occurred_at", "seq", "id")
    assert [h.stage for h in history] == ["accepted", "reviewing", "registered", "certificate", "ready"]


async def test_illegal_transition_is_refused_with_a_code(live, ingest):
    await ingest.send(created(RNO, [("张三", make_id_number())], accepted_at="2026-10-08T09:00:00+08:00"))
    await ingest.send(stage(RNO, "rejected", "2026-10-09T09:00:00+08:00"))
    res = await ingest.post(stage(RNO, "reviewing", "2026-10-10T09:00:00+08:00"))
    assert res.status_code == 409
    assert res.json()["error"]["code"] == "ILLEGAL_TRANSITION"
    assert "不予登记" in res.json()["error"]["message"]
    results = await ingest.send(stage(RNO, "correction_required", "2026-10-10T09:00:00+08:00",
                                      missing_materials=["身份证复印件"]),
                                stage(RNO, "nonsense", "2026-10-10T09:00:00+08:00"))
    assert [r["error"]["code"] for r in results] == ["ILLEGAL_TRANSITION", "UNKNOWN_STAGE"]
    assert (await Case.get(receipt_no=RNO)).stage == "rejected"


async def test_correction_needs_materials_and_returns_to_review(live, ingest, client):
    id_number = make_id_number(seq=41)
    await ingest.send(created(RNO, [("张三", id_number)], accepted_at="2026-10-08T09:00:00+08:00"))
    results = await ingest.send(stage(RNO, "correction_required", "2026-10-08T10:00:00+08:00"))
    assert results[0]["error"]["code"] == "MISSING_MATERIALS_REQUIRED"
    await ingest.send(stage(RNO, "correction_required", "2026-10-08T10:00:00+08:00",
                            missing_materials=["婚姻证明", "完税凭证"], note="请补交材料"))
    params = {"receipt_no": RNO, "id_last6": id_number[-6:]}
    data = (await client.post("/api/progress/lookup", json=params)).json()
    assert data["stage_label"] == "待补正" and data["missing_materials"] == ["婚姻证明", "完税凭证"]
    await ingest.send(stage(RNO, "reviewing", "2026-10-09T10:00:00+08:00"))
    data = (await client.post("/api/progress/lookup", json=params)).json()
    assert data["stage"] == "reviewing" and data["missing_materials"] == []


async def test_promised_dates_count_working_days_over_holidays(live, ingest):
    cases = {
        "2026-0930-000001": ("mortgage_first", "2026-09-30T10:00:00+08:00", date(2026, 10, 8)),
        # three working days: 10-08, 10-09 and the make-up Saturday 10-10
        "2026-0930-000002": ("secondhand_transfer", "2026-09-30T10:00:00+08:00", date(2026, 10, 10)),
        # 0 = same day; accepted on a holiday → the next working day
        "2026-0930-000003": ("mortgage_cancel", "2026-10-03T10:00:00+08:00", date(2026, 10, 8)),
        "2026-0930-000004": ("mortgage_cancel", "2026-09-30T16:00:00+08:00", date(2026, 9, 30)),
        # public notice 15 + 3 working days
        "2026-0930-000005": ("inheritance", "2026-09-30T10:00:00+08:00", date(2026, 10, 30)),
        "2026-0930-000006": ("certificate_reissue", "2026-09-30T10:00:00+08:00", date(2026, 10, 30)),
        # accepted late evening UTC is already the next day in Beijing
        "2026-0930-000007": ("mortgage_first", "2026-09-29T17:00:00+00:00", date(2026, 10, 8)),
    }
    await ingest.send(*(created(r, [("张三", make_id_number())], business_type=bt, accepted_at=acc)
                        for r, (bt, acc, _) in cases.items()))
    for receipt_no, (_, _, expected) in cases.items():
        assert (await Case.get(receipt_no=receipt_no)).promised_date == expected, receipt_no


async def test_submitted_case_gets_its_promise_when_accepted(live, ingest):
    await ingest.send(created(RNO, [("张三", make_id_number())], accepted_at=None))
    case = await Case.get(receipt_no=RNO)
    assert case.stage == "submitted" and case.promised_date is None
    await ingest.send(stage(RNO, "accepted", "2026-09-30T10:00:00+08:00"))
    assert (await Case.get(receipt_no=RNO)).promised_date == date(2026, 10, 10)


async def test_delivery_update_newest_wins(live, ingest):
    await ingest.send(created(RNO, [("张三", make_id_number())]))
    newer = {"event_id": "d2", "type": "case.delivery_updated", "occurred_at": "2026-10-09T10:00:00+08:00",
             "data": {"receipt_no": RNO, "method": "ems", "tracking_no": "EMS123456789CN"}}
    older = {"event_id": "d1", "type": "case.delivery_updated", "occurred_at": "2026-10-08T10:00:00+08:00",
             "data": {"receipt_no": RNO, "method": "window"}}
    bad = {"event_id": "d3", "type": "case.delivery_updated", "occurred_at": "2026-10-08T10:00:00+08:00",
           "data": {"receipt_no": RNO, "method": "pigeon"}}
    results = await ingest.send(newer, older, bad)
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected"]
    case = await Case.get(receipt_no=RNO)
    assert (case.delivery_method, case.tracking_no) == ("ems", "EMS123456789CN")
