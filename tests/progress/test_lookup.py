"""Citizen lookups: receipt number + ID last 6 with rate limits, my cases, isolation, masking, chat text."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from models import Case, Citizen
from server.catalog import service as catalog_service
from server.progress import service
from tests.factories import bound_citizen, login_citizen, make_id_number
from tests.progress.conftest import created, stage

RNO = "2026-0930-000123"


async def test_lookup_masks_and_hides_id_numbers(live, client, ingest):
    id_a, id_b = make_id_number(seq=101), make_id_number(seq=102)
    await ingest.send(created(RNO, [("张三丰", id_a), ("欧阳娜娜", id_b)], delivery_method="ems",
                              tracking_no="EMS000111222CN"))
    for last6 in (id_a[-6:], id_b[-6:]):
        res = await client.post("/api/progress/lookup", json={"receipt_no": RNO, "id_last6": last6})
        assert res.status_code == 200, res.text
        data = res.json()
        assert [a["name"] for a in data["applicants"]] == ["张**", "欧***"]
        for secret in (id_a, id_b, "张三丰", "欧阳娜娜"):
            assert secret not in res.text
    assert data["stage_label"] == "已受理" and data["promised_date"] == "2026-10-10"
    assert [(h["stage"], h["label"]) for h in data["history"]] == [("accepted", "已受理")]  # the case's own history
    assert data["delivery"] == {"method": "ems", "label": "EMS 邮寄", "tracking_no": "EMS000111222CN"}
    # Full-width digits typed on a phone keyboard work too, and POST is accepted.
    wide = RNO.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    res = await client.post("/api/progress/lookup", json={"receipt_no": wide, "id_last6": id_a[-6:]})
    assert res.status_code == 200 and res.json()["receipt_no"] == RNO


async def test_lookup_rate_limit_per_ip(live, client, ingest):
    id_number = make_id_number(seq=103)
    await ingest.send(created(RNO, [("张三", id_number)]))
    wrong = "000000" if id_number[-6:] != "000000" else "111111"
    for i in range(10):
        receipt = RNO if i % 2 else f"2026-0930-{i:06d}"  # wrong ID and unknown numbers answer alike
        res = await client.post("/api/progress/lookup", json={"receipt_no": receipt, "id_last6": wrong})
        assert res.status_code == 404
        assert res.json()["error"]["code"] == "CASE_NOT_FOUND"
    res = await client.post("/api/progress/lookup", json={"receipt_no": RNO, "id_last6": id_number[-6:]})
    assert res.status_code == 429
    assert res.json()["error"]["code"] == "LOOKUP_RATE_LIMITED"
    assert "1 小时" in res.json()["error"]["message"]
    res = await client.post("/api/progress/lookup", json={"receipt_no": RNO})
    assert res.status_code == 422


async def test_lookup_rate_limit_per_user(live, client, ingest):
    id_number = make_id_number(seq=104)
    await ingest.send(created(RNO, [("张三", id_number)]))
    token = await login_citizen(client)
    headers = {"Authorization": f"Bearer {token}"}
    # Failures counted against this user (the IP and receipt counters are cleared to isolate the per-user one).
    for _ in range(10):
        res = await client.post("/api/progress/lookup", json={"receipt_no": RNO, "id_last6": "12345X"},
                                headers=headers)
        assert res.status_code == 404
        await live.ctx.redis.delete(live.ctx.keys("progress", "lookup-fail", "ip", "127.0.0.1"),
                                    live.ctx.keys("progress", "lookup-fail", "receipt", RNO))
    params = {"receipt_no": RNO, "id_last6": id_number[-6:]}
    assert (await client.post("/api/progress/lookup", json=params, headers=headers)).status_code == 429
    assert (await client.post("/api/progress/lookup", json=params)).status_code == 200
    me = (await client.get("/api/mp/me", headers=headers)).json()
    user_key = live.ctx.keys("progress", "lookup-fail", "user", me["id"])
    assert 3600 - 60 <= await live.ctx.redis.ttl(user_key) <= 3600  # the same hour as the IP's count
    # Counted per user: another citizen on the same IP is not limited by the first one's failures.
    other = {"Authorization": f"Bearer {await login_citizen(client)}"}
    assert (await client.post("/api/progress/lookup", json=params, headers=other)).status_code == 200


async def test_my_cases_after_binding_and_isolation(live, client, ingest):
    token = await login_citizen(client)
    res = await client.get("/api/mp/cases", headers={"Authorization": f"Bearer {token}"})
    assert (res.status_code, res.json()["error"]["code"]) == (403, "REAL_NAME_REQUIRED")

    mine, my_id = await bound_citizen(client, name="张三")
    other, other_id = await bound_citizen(client, name="李四")
    await ingest.send(created(RNO, [("张三", my_id), ("王五", make_id_number(seq=7))]),
                      created("2026-0930-000124", [("李四", other_id)]),
                      created("2026-0930-000125", [("张三", my_id)], business_type="inheritance"))
    res = await client.get("/api/mp/cases", headers=mine)
    assert res.status_code == 200
    assert sorted(c["receipt_no"] for c in res.json()["items"]) == [RNO, "2026-0930-000125"]
    assert my_id not in res.text and "王五" not in res.text
    res = await client.get("/api/mp/cases", headers=other)
    assert [c["receipt_no"] for c in res.json()["items"]] == ["2026-0930-000124"]

    assert (await client.get(f"/api/mp/cases/{RNO}", headers=mine)).json()["applicants"][1]["name"] == "王*"
    res = await client.get(f"/api/mp/cases/{RNO}", headers=other)
    assert (res.status_code, res.json()["error"]["code"]) == (404, "CASE_NOT_FOUND")
    assert (await client.post(f"/api/mp/cases/{RNO}/subscribe", headers=other)).status_code == 404
    assert (await client.get("/api/mp/cases/2099-0101-000001", headers=mine)).status_code == 404
    assert (await client.get("/api/mp/cases")).status_code == 401


async def test_overdue_is_computed_against_an_injected_now(live, client, ingest):
    id_number = make_id_number(seq=105)
    await ingest.send(created(RNO, [("张三", id_number)], business_type="mortgage_first",
                              accepted_at="2026-09-30T10:00:00+08:00"))
    catalog = await catalog_service.get(live.app)
    rules = service.rules_for(live.ctx.settings)
    case = await Case.get(receipt_no=RNO)
    assert case.promised_date == date(2026, 10, 8)
    on_time = datetime(2026, 10, 8, 23, 59, tzinfo=catalog.tz)
    late = on_time + timedelta(minutes=1)
    assert not service.is_overdue(case, rules, catalog, on_time)
    assert service.is_overdue(case, rules, catalog, late)
    data = await service.read(case, cipher=live.ctx.cipher, catalog=catalog, rules=rules, now=late)
    assert (data["overdue"], data["status_label"]) == (True, "已超期")
    for now, overdue in ((on_time, False), (late, True)):  # a lookup judges against the "now" it is given
        found = await service.lookup(redis=live.ctx.redis, keys=live.ctx.keys, cipher=live.ctx.cipher, catalog=catalog,
                                     rules=rules, receipt_no=RNO, id_last6=id_number[-6:], ip="10.0.0.1", now=now)
        assert found["overdue"] is overdue
    # The sweep flags it for staff once; a finished case is never overdue.
    assert await service.flag_overdue(catalog=catalog, rules=rules, now=late) == 1
    assert await service.flag_overdue(catalog=catalog, rules=rules, now=late) == 0
    await ingest.send(stage(RNO, "registered", "2026-10-09T10:00:00+08:00"),
                      stage(RNO, "ready", "2026-10-09T11:00:00+08:00"))
    case = await Case.get(receipt_no=RNO)
    assert not service.is_overdue(case, rules, catalog, late)
    # Over HTTP "now" is the real clock: a case accepted 60 days ago is overdue, one accepted now is not.
    real_now = catalog.now()
    for receipt_no, accepted, overdue in (("2026-0930-000201", real_now - timedelta(days=60), True),
                                          ("2026-0930-000202", real_now, False)):
        await ingest.send(created(receipt_no, [("张三", id_number)], business_type="mortgage_first",
                                  accepted_at=accepted.isoformat()))
        res = await client.post("/api/progress/lookup", json={"receipt_no": receipt_no, "id_last6": id_number[-6:]})
        assert res.json()["overdue"] is overdue, res.json()


async def test_chat_lookup_text(live, client, ingest):
    mine, my_id = await bound_citizen(client, name="张三")
    my_openid = (await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, my_id))).openid
    _, other_id = await bound_citizen(client, name="李四")
    other_openid = (await Citizen.get(id_hash=service.id_hash(live.ctx.cipher, other_id))).openid
    await ingest.send(created(RNO, [("张三", my_id)], business_type="mortgage_first",
                              accepted_at="2026-09-30T10:00:00+08:00"),
                      stage(RNO, "correction_required", "2026-10-08T10:00:00+08:00",
                            missing_materials=["婚姻证明", "完税凭证"]))
    future = datetime(2026, 10, 8, 12, 0).astimezone()
    text = await service.lookup_for_chat(app=live.app, openid=my_openid, receipt_no=RNO, now=future)
    assert "待补正" in text and "婚姻证明；完税凭证" in text and "2026-10-08" in text
    assert "已超期" not in text
    wide = " ２０２６－０９３０－０００１２３ "
    text = await service.lookup_for_chat(app=live.app, openid=my_openid, receipt_no=wide,
                                         now=datetime(2026, 10, 9, 12, 0).astimezone())
    # Past the promised date, but waiting for the citizen's correction: the clock stands still (issue 12).
    assert "已超期" not in text and "待补正" in text
    ask = await service.lookup_for_chat(app=live.app, openid=other_openid, receipt_no=RNO)
    missing = await service.lookup_for_chat(app=live.app, openid=other_openid, receipt_no="2099-0101-000001")
    stranger = await service.lookup_for_chat(app=live.app, openid="o-never-seen", receipt_no=RNO)
    assert ask == missing == stranger == service.CHAT_ASK_LOOKUP
    assert "身份证号后 6 位" in ask and "待补正" not in ask and "婚姻" not in ask


async def test_lookup_limit_window_is_one_hour(live, client, ingest):
    """The failure count lives one hour from the first failure (case_stages.yaml, the center's data, is the spec:
    "每小时失败次数上限"), and the refusal tells the citizen to wait that hour."""
    id_number = make_id_number(seq=106)
    await ingest.send(created(RNO, [("张三", id_number)]))
    key = live.ctx.keys("progress", "lookup-fail", "ip", "127.0.0.1")
    misses = []
    for i in range(10):
        res = await client.post("/api/progress/lookup", json={"receipt_no": RNO, "id_last6": "00000X"})
        assert res.status_code == 404
        misses.append(res.json()["error"]["message"])
        if i == 0:
            assert await live.ctx.redis.ttl(key) >= 3599
            await asyncio.sleep(1.1)  # later failures do not restart the hour
    assert len(set(misses)) == 1 and "受理编号" in misses[0]
    ttl = await live.ctx.redis.ttl(key)
    assert 3600 - 30 <= ttl < 3600, ttl  # counted from the first failure: not a minute shorter, not restarted
    await asyncio.sleep(1.1)  # well inside the hour the limit still holds
    params = {"receipt_no": RNO, "id_last6": id_number[-6:]}
    assert (await client.post("/api/progress/lookup", json=params)).status_code == 429
    await live.ctx.redis.expire(key, 1)  # the hour runs out
    # (the receipt number's own, shorter count — issue 11 — is cleared too: it is pinned in its own test)
    await live.ctx.redis.delete(live.ctx.keys("progress", "lookup-fail", "receipt", RNO))
    await asyncio.sleep(1.2)
    assert (await client.post("/api/progress/lookup", json=params)).status_code == 200
