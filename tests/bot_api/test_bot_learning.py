"""The learning loop, the hand-over to a person, and answers that quote the catalog's current figures."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from models import CenterSetting
from server.catalog import service as catalog_service
from tests.conftest import start_app, stop_app
from tests.factories import login_citizen, staff_headers
from tests.wechat.helpers import WeChatServer, text_xml

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)  # a working day, hotline open (9:00–17:00)
FRIDAY_18 = datetime(2026, 12, 4, 18, 0, tzinfo=TZ)  # after hours: staff are back on Monday at 9:00
UNKNOWN = "停车场在哪个门进"


async def _raw_reply(wx: WeChatServer, openid: str, text: str) -> dict:
    return wx.reply(await wx.post(text_xml(openid, text)))


async def test_staff_attach_a_miss_to_an_entry_and_every_worker_answers_it(live, settings, client, wx,
                                                                            fake_wechat, oracle):
    other, server = await start_app(settings, seed=False)  # a second worker on the same database and Redis
    try:
        assert await wx.ask("o-learn", UNKNOWN) == oracle.text("fallback")
        staff = await staff_headers(client, role="publisher")
        misses = (await client.get("/api/staff/bot/misses", headers=staff)).json()["items"]
        assert [m["question"] for m in misses] == [UNKNOWN]

        res = await client.post("/api/staff/bot/misses/attach", headers=staff,
                                json={"question": UNKNOWN, "entry_id": "center-halls"})
        assert res.status_code == 200, res.text
        assert UNKNOWN in res.json()["phrasings"]
        # The next identical question is answered, here and on the other worker, and has left the list.
        assert (await wx.ask("o-learn2", UNKNOWN)).startswith(oracle.pick("center-halls").text)
        assert (await client.get("/api/staff/bot/misses", headers=staff)).json()["items"] == []
        wx2 = WeChatServer(other.http, fake_wechat.appid)
        for _ in range(40):  # workers look for a new version about once a second
            text = await wx2.ask("o-learn3", f"{UNKNOWN}？")
            if text.startswith(oracle.pick("center-halls").text):
                break
            await asyncio.sleep(0.1)
        assert text.startswith(oracle.pick("center-halls").text)
        # Attaching twice does not list the phrasing twice.
        again = await client.post("/api/staff/bot/misses/attach", headers=staff,
                                  json={"question": UNKNOWN, "entry_id": "center-halls"})
        assert again.json()["phrasings"].count(UNKNOWN) == 1
    finally:
        await stop_app(other, server)


async def test_attach_is_validated_and_guarded(client):
    staff = await staff_headers(client, role="admin")
    res = await client.post("/api/staff/bot/misses/attach", headers=staff,
                            json={"question": "停车", "entry_id": "no-such-entry"})
    assert res.status_code == 404 and res.json()["error"]["code"] == "KB_ENTRY_NOT_FOUND"
    for bad in ({"question": "", "entry_id": "center-halls"}, {"question": "停车"},
                {"question": "停车", "entry_id": "center-halls", "x": 1}):
        assert (await client.post("/api/staff/bot/misses/attach", headers=staff, json=bad)).status_code == 422
    res = await client.post("/api/staff/bot/misses/attach", headers=staff,
                            json={"question": "？？", "entry_id": "center-halls"})
    assert res.status_code == 422 and res.json()["error"]["code"] == "KB_PHRASING_EMPTY"
    hotline = await staff_headers(client, role="hotline")
    res = await client.post("/api/staff/bot/misses/attach", headers=hotline,
                            json={"question": "停车", "entry_id": "center-halls"})
    assert res.status_code == 403


async def test_handover_in_service_hours_transfers_to_customer_service(live, wx):
    live.ctx.clock.set(MONDAY_10)
    reply = await _raw_reply(wx, "o-h1", "转人工")
    assert reply["MsgType"] == "transfer_customer_service"
    assert reply["ToUserName"] == "o-h1" and "Content" not in reply
    # Two fallbacks in a row hand over too; an answer in between starts the count again.
    assert (await _raw_reply(wx, "o-h2", "明天会下雨吗"))["MsgType"] == "text"
    assert (await _raw_reply(wx, "o-h2", "可以提前多少天预约"))["MsgType"] == "text"
    assert (await _raw_reply(wx, "o-h2", "帮我写一首诗"))["MsgType"] == "text"
    assert (await _raw_reply(wx, "o-h2", "股票明天会涨吗"))["MsgType"] == "transfer_customer_service"


async def test_handover_after_hours_says_when_staff_are_back_and_leaves_the_question(live, client, wx):
    live.ctx.clock.set(FRIDAY_18)
    assert "暂时无法回答" in await wx.ask("o-h3", "明天会下雨吗")
    text = await wx.ask("o-h3", "股票明天会涨吗")
    assert "恢复服务" in text and "12月7日 周一 9:00" in text and "问题已留给工作人员" in text
    staff = await staff_headers(client, role="admin")
    misses = {m["question"]: m for m in (await client.get("/api/staff/bot/misses", headers=staff)).json()["items"]}
    assert misses["股票明天会涨吗"]["last_kind"] == "handover" and misses["股票明天会涨吗"]["count"] == 1
    # Asking for a person after an unanswered question leaves that question; the reply says when.
    await wx.ask("o-h4", "房子漏水找谁")
    live.ctx.clock.set(datetime(2026, 11, 30, 7, 30, tzinfo=TZ))  # Monday before opening
    text = await wx.ask("o-h4", "转人工")
    assert "今天9:00" in text
    misses = {m["question"]: m for m in (await client.get("/api/staff/bot/misses", headers=staff)).json()["items"]}
    assert misses["房子漏水找谁"]["last_kind"] == "handover"


async def test_mini_program_handover_points_to_the_hotline(live, client):
    live.ctx.clock.set(MONDAY_10)
    headers = {"Authorization": f"Bearer {await login_citizen(client)}"}
    body = (await client.post("/api/mp/bot/ask", headers=headers, json={"question": "人工客服"})).json()
    assert body["intent"] == "handover" and "96510" in body["text"]


async def test_answers_quote_the_catalog_so_a_rule_change_changes_the_answer(live, wx):
    assert "7天内" in await wx.ask("o-f1", "可以提前多少天预约")
    row = await CenterSetting.get(key="booking_rules")
    row.value = {**row.value, "window_days": 10, "release_time": "07:30"}
    await row.save()
    fee = await CenterSetting.get(key="fee_policy")
    fee.value = {**fee.value, "residential": 90}
    await fee.save()
    await catalog_service.changed(live.app)  # what every catalog edit does
    live.ctx.bot_state.checked_at = 0  # do not wait for the once-a-second look
    text = await wx.ask("o-f2", "可以提前多少天预约")
    assert "10天内" in text and "7:30" in text and "7天" not in text
    assert "90元/件" in await wx.ask("o-f3", "住宅登记费多少钱")
    reply = wx.reply(await wx.post(text_xml("o-f4", "我要预约")))
    assert "10天内" in reply["Content"]


async def test_answers_naming_halls_for_a_business_follow_a_pause_at_a_hall(live, client):
    headers = {"Authorization": f"Bearer {await login_citizen(client)}"}

    async def ask(question: str) -> str:
        live.ctx.bot_state.checked_at = 0  # do not wait for the once-a-second look
        body = (await client.post("/api/mp/bot/ask", headers=headers, json={"question": question})).json()
        assert body["entry_id"] == "inheritance-process", body
        return body["text"]

    assert "继承、受遗赠转移登记（非公证）可在各服务大厅办理。" in await ask("继承在哪个大厅办")
    admin = await staff_headers(client)
    res = await client.put("/api/staff/halls/east/scope/inheritance", headers=admin,
                           json={"reason": "非公证继承集中在中心大厅办理"})
    assert res.status_code == 200, res.text
    text = await ask("继承登记去哪里办")
    assert "城东大厅暂停办理（非公证继承集中在中心大厅办理）" in text and "中心大厅" in text
    assert "可在各服务大厅办理" not in text
    assert (await client.delete("/api/staff/halls/east/scope/inheritance", headers=admin)).status_code == 200
    assert "城东大厅暂停" not in await ask("继承在哪个大厅办")


async def test_the_small_business_fee_answer_follows_the_fee_policy(live, wx):
    assert "小微企业免收登记费" in await wx.ask("o-s1", "小微企业收费吗")
    fee = await CenterSetting.get(key="fee_policy")
    fee.value = {**fee.value, "small_micro_enterprise_exempt": False}
    await fee.save()
    await catalog_service.changed(live.app)
    live.ctx.bot_state.checked_at = 0
    text = await wx.ask("o-s2", "小微企业收费吗")
    assert "小微企业按标准收取登记费" in text and "免收登记费" not in text
