"""Progress tests: pushes run in-process so a test can wait for them, with real Redis or the embedded one."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime

import pytest

from server.progress import service


@pytest.fixture
def settings(settings):
    # Stage pushes must finish inside the test; the job function itself is the one arq runs.
    settings.jobs_backend = "inline"
    return settings


def documented_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ingest signature as the API documents it, written here apart from server/progress/service.sign:
    hex HMAC-SHA256, keyed with the client's secret, over the X-Dengji-Timestamp value, a line feed and the raw body."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"\n" + body, hashlib.sha256).hexdigest()


class Ingest:
    """A registered business system posting signed events over HTTP."""

    def __init__(self, client, key_id: str, secret: str) -> None:
        self.client, self.key_id, self.secret = client, key_id, secret

    def headers(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None,
                key_id: str | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {"Content-Type": "application/json", "X-Dengji-Key": key_id or self.key_id,
                "X-Dengji-Timestamp": ts, "X-Dengji-Signature": documented_signature(secret or self.secret, ts, body)}

    async def post(self, payload, **kw):
        body = json.dumps(payload, ensure_ascii=False).encode()
        return await self.client.post("/api/ingest/events", content=body, headers=self.headers(body, **kw))

    async def send(self, *events) -> list[dict]:
        res = await self.post({"events": list(events)})
        assert res.status_code == 200, res.text
        return res.json()["results"]


@pytest.fixture
async def ingest(live, client) -> Ingest:
    created, secret = await service.create_client(cipher=live.ctx.cipher, name=f"bdc-{uuid.uuid4().hex[:6]}")
    return Ingest(client, created.key_id, secret)


def created(receipt_no: str, applicants: list[tuple[str | None, str]], *, business_type: str = "secondhand_transfer",
            hall: str = "center", accepted_at: str | None = "2026-09-30T10:00:00+08:00", event_id: str | None = None,
            **extra) -> dict:
    data = {"receipt_no": receipt_no, "business_type": business_type, "hall": hall,
            "applicants": [{"name": n, "id_number": i} if n else {"id_number": i} for n, i in applicants]}
    if accepted_at:
        data["accepted_at"] = accepted_at
    data.update(extra)
    return {"event_id": event_id or f"ev-{uuid.uuid4().hex}", "type": "case.created",
            "occurred_at": accepted_at or "2026-09-30T09:00:00+08:00", "data": data}


def stage(receipt_no: str, stage_code: str, occurred_at: str, *, event_id: str | None = None, seq: int = 0,
          **extra) -> dict:
    return {"event_id": event_id or f"ev-{uuid.uuid4().hex}", "type": "case.stage_changed",
            "occurred_at": occurred_at, "seq": seq, "data": {"receipt_no": receipt_no, "stage": stage_code, **extra}}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
