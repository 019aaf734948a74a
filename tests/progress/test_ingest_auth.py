"""The ingest API's signature and timestamp window, against the documented construction (not service.sign).

The construction (docs/testing.md, "Ingest signature"): X-Dengji-Signature = hex HMAC-SHA256 keyed with the
client's secret over ``X-Dengji-Timestamp + "\\n" + raw body``; the timestamp is Unix seconds and must be
within 5 minutes of the server's clock in either direction (the contract clients see in the error message
"请求时间戳已过期（超过 5 分钟）").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from models import Case
from server.core.errors import AppError
from server.progress import service
from tests.factories import make_id_number
from tests.progress.conftest import created, documented_signature

RNO = "2026-0930-000777"
WINDOW = timedelta(minutes=5)


def _body() -> bytes:
    return json.dumps(created(RNO, [("张三", make_id_number(seq=77))])).encode()


async def _post(client, ingest, body: bytes, *, timestamp: str, signature: str):
    return await client.post("/api/ingest/events", content=body, headers={
        "Content-Type": "application/json", "X-Dengji-Key": ingest.key_id,
        "X-Dengji-Timestamp": timestamp, "X-Dengji-Signature": signature})


def _code(res) -> tuple[int, str]:
    return res.status_code, res.json()["error"]["code"]


async def test_the_documented_signature_is_accepted(live, client, ingest):
    body, ts = _body(), str(int(time.time()))
    res = await _post(client, ingest, body, timestamp=ts, signature=documented_signature(ingest.secret, ts, body))
    assert res.status_code == 200, res.text
    # Hex digits in either case are the same signature.
    body2 = json.dumps(created("2026-0930-000778", [("李四", make_id_number(seq=78))])).encode()
    res = await _post(client, ingest, body2, timestamp=ts,
                      signature=documented_signature(ingest.secret, ts, body2).upper())
    assert res.status_code == 200, res.text


async def test_signatures_that_leave_out_the_timestamp_or_are_cut_short_are_refused(live, client, ingest):
    body, ts = _body(), str(int(time.time()))
    good = documented_signature(ingest.secret, ts, body)
    body_only = hmac.new(ingest.secret.encode(), body, hashlib.sha256).hexdigest()
    other_ts = documented_signature(ingest.secret, str(int(ts) - 1), body)
    no_separator = hmac.new(ingest.secret.encode(), ts.encode() + body, hashlib.sha256).hexdigest()
    for signature in (body_only, other_ts, no_separator, good[:-1], good[:32], good[:1], good + "0", "x"):
        res = await _post(client, ingest, body, timestamp=ts, signature=signature)
        assert _code(res) in ((401, "INGEST_BAD_SIGNATURE"), (401, "INGEST_AUTH_MISSING")), signature
    res = await client.post("/api/ingest/events", content=body, headers={
        "Content-Type": "application/json", "X-Dengji-Key": ingest.key_id, "X-Dengji-Signature": body_only})
    assert _code(res) == (401, "INGEST_AUTH_MISSING")  # no timestamp at all
    assert not await Case.exists(receipt_no=RNO)


@pytest.mark.parametrize("offset", [-400, 400])
async def test_old_and_future_timestamps_are_refused_over_http(live, client, ingest, offset):
    body = _body()
    ts = str(int(time.time()) + offset)
    res = await _post(client, ingest, body, timestamp=ts, signature=documented_signature(ingest.secret, ts, body))
    assert _code(res) == (401, "INGEST_STALE_TIMESTAMP")
    assert not await Case.exists(receipt_no=RNO)


@pytest.mark.parametrize(("offset", "accepted"), [
    (-WINDOW, True), (-WINDOW - timedelta(seconds=1), False),
    (WINDOW, True), (WINDOW + timedelta(seconds=1), False),
])
async def test_timestamp_window_is_five_minutes_each_way(live, ingest, offset, accepted):
    now = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    ts = str(int((now + offset).timestamp()))
    body = b'{"ping": 1}'
    kwargs = dict(cipher=live.ctx.cipher, key_id=ingest.key_id, timestamp=ts,
                  signature=documented_signature(ingest.secret, ts, body), body=body, now=now)
    if accepted:
        assert (await service.authenticate_client(**kwargs)).key_id == ingest.key_id
    else:
        with pytest.raises(AppError) as exc:
            await service.authenticate_client(**kwargs)
        assert exc.value.code == "INGEST_STALE_TIMESTAMP"


async def test_each_refusal_tells_the_integrator_what_to_fix(live, client, ingest):
    """Every refusal has its stable code and a Chinese message naming the cause (and the exact header names)."""
    body, now = _body(), int(time.time())
    good_ts = str(now)
    cases = [
        ({}, "INGEST_AUTH_MISSING", ("X-Dengji-Key", "X-Dengji-Timestamp", "X-Dengji-Signature")),
        ({"X-Dengji-Key": "dk_nope", "X-Dengji-Timestamp": good_ts, "X-Dengji-Signature": "ab"},
         "INGEST_UNKNOWN_KEY", ("密钥",)),
        ({"X-Dengji-Key": ingest.key_id, "X-Dengji-Timestamp": "yesterday", "X-Dengji-Signature": "ab"},
         "INGEST_BAD_TIMESTAMP", ("时间戳", "Unix 秒")),
        ({"X-Dengji-Key": ingest.key_id, "X-Dengji-Timestamp": str(now - 400),
          "X-Dengji-Signature": documented_signature(ingest.secret, str(now - 400), body)},
         "INGEST_STALE_TIMESTAMP", ("5 分钟",)),
        ({"X-Dengji-Key": ingest.key_id, "X-Dengji-Timestamp": good_ts, "X-Dengji-Signature": "ab"},
         "INGEST_BAD_SIGNATURE", ("签名",)),
    ]
    for headers, code, words in cases:
        res = await client.post("/api/ingest/events", content=body,
                                headers={"Content-Type": "application/json", **headers})
        error = res.json()["error"]
        assert (res.status_code, error["code"]) == (401, code)
        assert re.match(r"[\u4e00-\u9fff]", error["message"]) and all(w in error["message"] for w in words), error


async def test_a_disabled_client_is_told_so(live, client, ingest):
    from models import IngestClient

    await IngestClient.filter(key_id=ingest.key_id).update(active=False)
    service._client_cache.clear()
    res = await ingest.post(created(RNO, [("张三", make_id_number(seq=79))]))
    error = res.json()["error"]
    assert (res.status_code, error["code"]) == (403, "INGEST_CLIENT_DISABLED") and "停用" in error["message"]
    assert not await Case.exists(receipt_no=RNO)
