"""The lookup failure limit holds under parallel guesses: counted atomically before the query, per address,
per citizen and per receipt number; refunded on success; POST only."""

from __future__ import annotations

import asyncio

from server.catalog import service as catalog_service
from server.progress import service
from tests.factories import bound_citizen, make_id_number
from tests.progress.conftest import created

RNO = "2026-0930-000555"
URL = "/api/progress/lookup"


def _wrong(id_number: str) -> str:
    return "000000" if id_number[-6:] != "000000" else "111111"


async def test_lookup_by_get_is_refused(live, client, ingest):
    id_number = make_id_number(seq=201)
    await ingest.send(created(RNO, [("张三", id_number)]))
    res = await client.get(URL, params={"receipt_no": RNO, "id_last6": id_number[-6:]})
    assert res.status_code == 405 and res.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in res.headers["allow"]
    assert (await client.post(URL, json={"receipt_no": RNO, "id_last6": id_number[-6:]})).status_code == 200


async def test_one_hundred_parallel_wrong_guesses_over_http(live, client, ingest):
    """Before: between 14 and all 100 reached the query against a limit of 10."""
    limit = service.rules_for(live.ctx.settings).failures_per_ip
    results = await asyncio.gather(*(
        client.post(URL, json={"receipt_no": f"2026-0930-{i:06d}", "id_last6": "000000"}) for i in range(100)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [404] * limit + [429] * (100 - limit)


async def test_receipt_counter_holds_across_addresses_and_spares_the_applicant(live, client, ingest):
    id_number = make_id_number(seq=202)
    await ingest.send(created(RNO, [("张三", id_number)]))
    ctx = live.ctx
    rules = service.rules_for(ctx.settings)
    catalog = await catalog_service.get(live.app)

    async def guess(ip: str, last6: str, user_id: int | None = None):
        try:
            await service.lookup(redis=ctx.redis, keys=ctx.keys, cipher=ctx.cipher, catalog=catalog, rules=rules,
                                 receipt_no=RNO, id_last6=last6, ip=ip, user_id=user_id)
            return 200
        except service.ReceiptLookupLimited:
            return "receipt"
        except service.LookupLimited:
            return 429
        except Exception as exc:  # NotFound
            return getattr(exc, "status", 500)

    # A right answer is not a failure: it never uses up the count.
    for _ in range(rules.failures_per_receipt + 3):
        assert await guess("10.9.9.9", id_number[-6:]) == 200
    # 100 wrong guesses from 100 addresses at once: exactly the receipt's limit reach the query.
    results = await asyncio.gather(*(guess(f"10.0.{i // 250}.{i % 250}", _wrong(id_number)) for i in range(100)))
    assert sorted(map(str, results)) == sorted(["404"] * rules.failures_per_receipt
                                               + ["receipt"] * (100 - rules.failures_per_receipt))
    # The number is held for everyone for its (short) window …
    assert await guess("10.8.8.8", id_number[-6:]) == "receipt"
    ttl = await ctx.redis.ttl(ctx.keys("progress", "lookup-fail", "receipt", RNO))
    assert 0 < ttl <= rules.receipt_window_seconds < rules.window_seconds
    # … but not for a bound applicant, whose own case it is, nor in "my cases".
    headers, _ = await bound_citizen(client, name="张三", id_number=id_number)
    res = await client.post(URL, json={"receipt_no": RNO, "id_last6": id_number[-6:]}, headers=headers)
    assert res.status_code == 200 and res.json()["receipt_no"] == RNO
    res = await client.post(URL, json={"receipt_no": RNO, "id_last6": id_number[-6:]})
    assert res.status_code == 429 and "15 分钟" in res.json()["error"]["message"]
    assert (await client.get(f"/api/mp/cases/{RNO}", headers=headers)).status_code == 200
    # Refused tries counted nowhere: the addresses that were refused still have their whole allowance.
    assert await ctx.redis.get(ctx.keys("progress", "lookup-fail", "ip", "10.0.0.99")) in (None, b"0", "0", b"1", "1")
