"""Chatbot HTTP API: mini-program ask/feedback, staff knowledge base, reload, misses, vote summary."""

from __future__ import annotations

import asyncio
import hashlib

from bot.engine import DEFAULT_DATA_DIR
from tests.conftest import start_app, stop_app
from tests.factories import login_citizen, staff_headers
from tests.wechat.helpers import WeChatServer

PARKING = {"id": "hall-parking", "category": "中心与大厅", "question": "大厅可以停车吗？",
           "phrasings": ["大厅有停车场吗", "去大厅停车方便吗", "办事能停车吗"],
           "keywords": ["停车", "停车场", "停车位"],
           "answer": "各服务大厅均设有免费停车位，办事期间可停放2小时。"}


def shipped_kb_digest() -> str:
    return hashlib.sha256((DEFAULT_DATA_DIR / "kb.yaml").read_bytes()).hexdigest()


async def test_mini_program_ask_and_feedback(client, oracle):
    assert (await client.post("/api/mp/bot/ask", json={"question": "材料"})).status_code == 401
    headers = {"Authorization": f"Bearer {await login_citizen(client)}"}
    res = await client.post("/api/mp/bot/ask", headers=headers, json={"question": "可以提前多少天预约"})
    assert res.status_code == 200
    body = res.json()
    assert body["kind"] == "answer" and body["entry_id"] == "booking-window"
    assert body["text"] == oracle.answer("可以提前多少天预约").text
    assert (await client.post("/api/mp/bot/ask", headers=headers, json={"q": "x"})).status_code == 422
    for helpful in (True, True, False):
        res = await client.post("/api/mp/bot/feedback", headers=headers,
                                json={"entry_id": "booking-window", "helpful": helpful})
        assert res.status_code == 201
    res = await client.post("/api/mp/bot/feedback", headers=headers, json={"entry_id": "no-such", "helpful": True})
    assert res.status_code == 404 and res.json()["error"]["code"] == "KB_ENTRY_NOT_FOUND"
    staff = await staff_headers(client, role="publisher")
    items = (await client.get("/api/staff/bot/feedback", headers=staff)).json()["items"]
    question = next(e.question for e in oracle.entries if e.id == "booking-window")
    assert items == [{"entry_id": "booking-window", "question": question,
                      "helpful": 2, "unhelpful": 1, "total": 3, "helpful_ratio": 0.6667}]


async def test_misses_are_counted_and_sorted(client, wx, oracle):
    for i, q in enumerate(("今天天气怎么样？", "今天天气怎么样", "今天天氣怎麼樣!", "帮我写首诗", "材料")):
        await wx.ask(f"o-miss{i}", q, "safe")  # one user each: two fallbacks in a row would hand over
    await wx.ask("o-miss", "二手房过户要带什么材料", "safe")  # answered: not a miss
    headers = await staff_headers(client, role="admin")
    items = (await client.get("/api/staff/bot/misses", headers=headers)).json()["items"]
    assert [(i["question"], i["count"]) for i in items][:1] == [("今天天气怎么样", 3)]
    assert {i["question"]: i["last_kind"] for i in items} == {"今天天气怎么样": "fallback", "帮我写首诗": "fallback",
                                                              "材料": "suggest"}
    assert [i["count"] for i in items] == sorted((i["count"] for i in items), reverse=True)
    hall = await staff_headers(client, role="hall_staff", hall_code="center")
    assert (await client.get("/api/staff/bot/misses", headers=hall)).status_code == 403
    assert (await client.get("/api/staff/bot/misses?limit=0", headers=headers)).status_code == 422


async def test_concurrent_misses_and_flushes_count_each_miss_once(live, wx):
    from bot import service
    from models.bot import BotMiss

    def flush():
        return service.flush_misses(redis=live.ctx.redis, keys=live.ctx.keys)

    await asyncio.gather(*[wx.ask(f"o-m{i}", "火星上能办房产证吗") for i in range(12)],
                         *[flush() for _ in range(4)])
    await asyncio.gather(*[wx.ask(f"o-n{i}", "火星上能办房产证吗") for i in range(5)], flush(), flush())
    await flush()
    rows = await BotMiss.filter(question__contains="火星")
    assert len(rows) == 1 and rows[0].count == 17 and rows[0].last_kind == "fallback"
    assert await flush() == 0  # nothing left behind in Redis


async def test_kb_edits_are_stored_in_the_database_and_answered_at_once(live, client, wx, oracle):
    from models.bot import BotEntry

    before = shipped_kb_digest()
    headers = await staff_headers(client, role="publisher")
    assert await wx.ask("o-kb", "大厅可以停车吗") == oracle.text("fallback")

    res = await client.post("/api/staff/bot/entries", headers=headers, json=PARKING)
    assert res.status_code == 201, res.text
    got = await client.get("/api/staff/bot/entries/hall-parking", headers=headers)
    assert got.json()["answer"] == PARKING["answer"]
    # In the database (seeded from the shipped files on the first edit), never in the shipped files.
    row = await BotEntry.get(entry_id="hall-parking")
    assert row.phrasings == PARKING["phrasings"]
    assert await BotEntry.all().count() == len(oracle.entries) + 1
    assert shipped_kb_digest() == before
    assert (await wx.ask("o-kb2", "大厅可以停车吗？")).startswith(PARKING["answer"])

    res = await client.patch("/api/staff/bot/entries/hall-parking", headers=headers,
                             json={"answer": "各大厅停车位有限，建议乘坐公共交通。"})
    assert res.status_code == 200 and res.json()["question"] == PARKING["question"]
    assert (await wx.ask("o-kb3", "大厅有停车场吗")).startswith("各大厅停车位有限")

    assert (await client.delete("/api/staff/bot/entries/hall-parking", headers=headers)).status_code == 200
    assert await wx.ask("o-kb4", "大厅可以停车吗") == oracle.text("fallback")
    assert (await client.get("/api/staff/bot/entries/hall-parking", headers=headers)).status_code == 404
    res = await client.post("/api/staff/bot/reload", headers=headers)
    assert res.status_code == 200 and res.json()["entries"] == len(oracle.entries)


async def test_kb_entries_are_validated_and_guarded(client, oracle):
    headers = await staff_headers(client, role="admin")
    items = (await client.get("/api/staff/bot/entries", headers=headers)).json()["items"]
    assert [e["id"] for e in items] == [e.id for e in oracle.entries]
    for bad in ({**PARKING, "question": "   "}, {**PARKING, "answer": ""}, {**PARKING, "id": "Bad Id!"},
                {**PARKING, "extra": 1}, {k: v for k, v in PARKING.items() if k != "answer"}):
        assert (await client.post("/api/staff/bot/entries", headers=headers, json=bad)).status_code == 422
    dup = await client.post("/api/staff/bot/entries", headers=headers, json={**PARKING, "id": "center-halls"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "KB_ENTRY_EXISTS"
    res = await client.patch("/api/staff/bot/entries/center-halls", headers=headers, json={"answer": " "})
    assert res.status_code == 422
    assert (await client.patch("/api/staff/bot/entries/nope", headers=headers, json={"answer": "x"})).status_code == 404
    hotline = await staff_headers(client, role="hotline")
    assert (await client.post("/api/staff/bot/entries", headers=hotline, json=PARKING)).status_code == 403
    assert (await client.post("/api/staff/bot/reload", headers=hotline)).status_code == 403
    assert (await client.post("/api/staff/bot/reload")).status_code == 401


async def test_reload_reaches_every_worker(live, settings, client, fake_wechat, oracle):
    other, server = await start_app(settings, seed=False)  # a second worker on the same database and Redis
    try:
        headers = await staff_headers(client, role="admin")
        # No reload call: an edit is published to every worker (version in Redis, rows in the database).
        assert (await client.post("/api/staff/bot/entries", headers=headers, json=PARKING)).status_code == 201
        wx2 = WeChatServer(other.http, fake_wechat.appid)
        for _ in range(40):  # workers look for a new version about once a second
            text = await wx2.ask("o-worker", "大厅可以停车吗")
            if text.startswith(PARKING["answer"]):
                break
            await asyncio.sleep(0.1)
        assert text.startswith(PARKING["answer"])
        assert len(other.ctx.bot.entries) == len(oracle.entries) + 1
    finally:
        await stop_app(other, server)
