"""Retries, events, menu clicks, suggestions, feedback and misses through /wechat."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import service as bot_service
from models.bot import BotFeedback, BotMiss
from models.wechat import WeChatFollower
from tests.wechat.helpers import event_xml, new_msgid

FALLBACK_Q = "今天天气怎么样"
REPO = Path(__file__).resolve().parents[2]


async def miss_count(live, question: str) -> int:
    """The stored count of a missed question, after moving what Redis gathered into the database."""
    await bot_service.flush_misses(redis=live.ctx.redis, keys=live.ctx.keys)
    return (await BotMiss.get(question=question)).count


async def test_sequential_retry_gets_the_same_reply_and_counts_once(live, wx, oracle):
    msgid = new_msgid()
    first = await wx.ask("o-retry", FALLBACK_Q, "safe", msgid=msgid)
    again = await wx.ask("o-retry", FALLBACK_Q, "safe", msgid=msgid)
    assert first == again == oracle.text("fallback")
    assert await miss_count(live, FALLBACK_Q) == 1
    await wx.ask("o-retry", FALLBACK_Q, "safe")  # a new message is a new side effect
    assert await miss_count(live, FALLBACK_Q) == 2


async def test_concurrent_retries_get_one_reply_and_one_side_effect(live, wx, oracle):
    msgid = new_msgid()
    replies = await asyncio.gather(*[wx.ask("o-retry2", FALLBACK_Q, mode, msgid=msgid)
                                     for mode in ("safe", "compat", "compat", "safe", "safe", "compat")])
    assert set(replies) == {oracle.text("fallback")}
    assert await miss_count(live, FALLBACK_Q) == 1


async def test_feedback_vote_is_recorded_once_even_when_retried(wx, oracle):
    await wx.ask("o-vote", "二手房过户要带什么材料")
    msgid = new_msgid()
    thanks = await wx.ask("o-vote", "有用！", msgid=msgid)
    assert thanks == oracle.text("feedback_thanks_helpful")
    assert await wx.ask("o-vote", "有用！", msgid=msgid) == thanks
    rows = await BotFeedback.all()
    assert [(r.entry_id, r.helpful, r.channel) for r in rows] == [("transfer-secondhand-materials", True, "oa")]
    # A vote with no answer before it is just a message.
    await wx.ask("o-vote", "有用")
    assert await BotFeedback.all().count() == 1
    await wx.ask("o-vote", "可以提前多少天预约")
    assert await wx.ask("o-vote", "沒用") == oracle.text("feedback_thanks_unhelpful")
    assert await BotFeedback.filter(entry_id="booking-window", helpful=False).count() == 1


async def test_suggestion_then_number_picks_the_entry(wx, oracle):
    suggested = oracle.answer("材料")
    assert suggested.kind == "suggest"
    text = await wx.ask("o-pick", "材料", "safe")
    assert text == suggested.text
    second = suggested.candidates[1][0]
    picked = await wx.ask("o-pick", "２", "safe")
    assert picked.startswith(oracle.pick(second).text)


async def test_a_late_retry_answers_as_before_and_leaves_newer_context_alone(live, wx, oracle):
    old = new_msgid()
    first = await wx.ask("o-late", "今天天气怎么样", "safe", msgid=old)
    suggested = oracle.answer("材料")
    assert await wx.ask("o-late", "材料", "safe") == suggested.text
    # WeChat retries the first message (our answer got lost): same reply, no side effect this time.
    assert await wx.ask("o-late", "今天天气怎么样", "safe", msgid=old) == first
    assert await miss_count(live, "今天天气怎么样") == 1
    # The retry did not end the newer suggestion list.
    picked = await wx.ask("o-late", "3", "safe")
    assert picked.startswith(oracle.pick(suggested.candidates[2][0]).text)


async def test_subscribe_welcome_and_unsubscribe_recorded(wx, oracle):
    data = wx.reply(await wx.post(event_xml("o-fan", "subscribe"), "safe"))
    assert data["Content"] == oracle.text("welcome")
    assert (await WeChatFollower.get(openid="o-fan")).subscribed
    res = await wx.post(event_xml("o-fan", "unsubscribe"), "safe")
    assert res.status_code == 200 and res.text == "success"
    fan = await WeChatFollower.get(openid="o-fan")
    assert not fan.subscribed and fan.unsubscribed_at is not None


async def test_events_are_deduplicated_by_sender_and_time(wx, oracle):
    t = int(time.time())
    await wx.post(event_xml("o-dup", "subscribe", create_time=t))
    await wx.post(event_xml("o-dup", "unsubscribe", create_time=t + 1))
    # WeChat retrying the first subscribe must not re-subscribe the user...
    data = wx.reply(await wx.post(event_xml("o-dup", "subscribe", create_time=t)))
    assert data["Content"] == oracle.text("welcome")
    assert not (await WeChatFollower.get(openid="o-dup")).subscribed
    # ...but a new subscribe does.
    await wx.post(event_xml("o-dup", "subscribe", create_time=t + 2))
    assert (await WeChatFollower.get(openid="o-dup")).subscribed


async def test_menu_clicks_answer_from_data_and_view_is_silent(wx, oracle):
    booking = wx.reply(await wx.post(event_xml("o-menu", "CLICK", key="MENU_BOOKING"), "safe"))
    assert booking["Content"] == oracle.intent_reply("booking").text and "小程序" in booking["Content"]
    halls = wx.reply(await wx.post(event_xml("o-menu", "CLICK", key="MENU_HALLS", create_time=int(time.time()) + 1)))
    assert halls["Content"] == oracle.pick("center-halls").text
    unknown = wx.reply(await wx.post(event_xml("o-menu", "CLICK", key="NOPE", create_time=int(time.time()) + 2)))
    assert unknown["Content"] == oracle.text("welcome")
    res = await wx.post(event_xml("o-menu", "VIEW", key="https://example.org/", create_time=int(time.time()) + 3))
    assert res.text == "success"


async def _expected_check_in(live, oracle, openid: str, scene: str) -> str:
    from server.booking.flows import check_in_by_scan

    return await check_in_by_scan(app=live.app, openid=openid, scene=scene)


async def test_scan_of_a_hall_code_answers_with_check_in(live, wx, oracle):
    """Contract with booking: check_in_by_scan(app, openid, scene) -> reply text (no booking here)."""
    data = wx.reply(await wx.post(event_xml("o-scan", "SCAN", key="hall:center"), "safe"))
    assert data["Content"] and data["Content"] == await _expected_check_in(live, oracle, "o-scan", "hall:center")
    data = wx.reply(await wx.post(event_xml("o-scan2", "subscribe", key="qrscene_hall:east"), "safe"))
    expected = await _expected_check_in(live, oracle, "o-scan2", "hall:east")
    assert data["Content"] == f"{oracle.text('welcome')}\n\n{expected}"
    assert (await WeChatFollower.get(openid="o-scan2")).scene == "hall:east"


async def test_receipt_number_asks_the_progress_domain(live, wx, oracle):
    text = await wx.ask("o-progress", "帮我查一下２０２４－０４２６－０００１２３", "safe")
    from server.progress.service import lookup_for_chat

    assert text == await lookup_for_chat(app=live.app, openid="o-progress", receipt_no="2024-0426-000123")


async def test_menu_push_command_creates_the_menu_at_wechat(settings, fake_wechat, tmp_path):
    env = {**os.environ, "DENGJI_HOME": str(tmp_path), "DENGJI_ENV": "test", "DENGJI_REDIS_URL": "",
           "DENGJI_WECHAT_API_BASE": fake_wechat.base_url, "DENGJI_WECHAT_APPID": fake_wechat.appid,
           "DENGJI_WECHAT_SECRET": fake_wechat.secret}
    cmd = [sys.executable, "-m", "server.cli", "wechat", "menu", "push"]
    # The pages' links are relative in the file: without the service's public address nothing is pushed.
    res = await asyncio.to_thread(subprocess.run, cmd, env=env | {"DENGJI_PUBLIC_BASE_URL": ""}, cwd=REPO,
                                  capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "DENGJI_PUBLIC_BASE_URL" in res.stderr
    assert not fake_wechat.calls_to("cgi-bin/menu/create")
    env["DENGJI_PUBLIC_BASE_URL"] = "https://dengji.example.gov.cn/"
    res = await asyncio.to_thread(subprocess.run, cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "已推送" in res.stdout
    assert len(fake_wechat.calls_to("cgi-bin/menu/create")) == 1
    names = [b["name"] for b in fake_wechat.menu["button"]]
    assert names[:2] == ["预约办事", "进度查询"] and "办事指南" in names
    assert "reply" not in str(fake_wechat.menu) and "_comment" not in fake_wechat.menu
    views = {s["name"]: s["url"] for b in fake_wechat.menu["button"] for s in b.get("sub_button", [b])
             if s.get("type") == "view"}
    assert views["预约办事"] == "https://dengji.example.gov.cn/api/oa/oauth/authorize?next=/h5/booking"
    assert views["进度查询"] == "https://dengji.example.gov.cn/api/oa/oauth/authorize?next=/h5/progress"
    bad = tmp_path / "menu.json"
    bad.write_text('{"button": []}', encoding="utf-8")
    res = await asyncio.to_thread(subprocess.run, [*cmd, "--file", str(bad)], env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "菜单" in res.stderr
    assert len(fake_wechat.calls_to("cgi-bin/menu/create")) == 1
    # A name over WeChat's 16 bytes is refused before any call to WeChat.
    bad.write_text(json.dumps({"button": [{"type": "view", "name": "不动产登记指南", "url": "https://x.cn"}]}),
                   encoding="utf-8")
    res = await asyncio.to_thread(subprocess.run, [*cmd, "--file", str(bad)], env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "16 字节" in res.stderr
    assert len(fake_wechat.calls_to("cgi-bin/menu/create")) == 1


def _menu(*buttons):
    return {"button": list(buttons)}


def _click(name, key="K"):
    return {"type": "click", "name": name, "key": key, "reply": {"text": "welcome"}}


@pytest.mark.parametrize(("menu", "ok"), [
    # WeChat's documented limits (创建自定义菜单): 1–3 buttons, 1–5 sub-buttons, names ≤ 16 bytes (sub 60),
    # keys ≤ 128 bytes, URLs ≤ 1024 bytes, all counted in UTF-8.
    (_menu(_click("一", "a"), _click("二", "b"), _click("三", "c")), True),
    (_menu(_click("一", "a"), _click("二", "b"), _click("三", "c"), _click("四", "d")), False),
    (_menu({"name": "指南", "sub_button": [_click(f"子{i}", f"k{i}") for i in range(5)]}), True),
    (_menu({"name": "指南", "sub_button": [_click(f"子{i}", f"k{i}") for i in range(6)]}), False),
    (_menu(_click("一二三四五a")), True),  # 16 bytes
    (_menu(_click("一二三四五ab")), False),  # 17 bytes
    (_menu({"name": "指南", "sub_button": [_click("二" * 20)]}), True),  # 60 bytes
    (_menu({"name": "指南", "sub_button": [_click("二" * 20 + "a")]}), False),  # 61 bytes
    (_menu({"name": "一二三四五ab", "sub_button": [_click("子")]}), False),  # a parent's name counts too
    (_menu(_click("键", "k" * 128)), True),
    (_menu(_click("键", "k" * 129)), False),
    (_menu({"type": "view", "name": "官网", "url": "https://x.cn/" + "a" * 1011}), True),  # 1024 bytes
    (_menu({"type": "view", "name": "官网", "url": "https://x.cn/" + "a" * 1012}), False),
])
def test_menu_file_is_checked_against_wechats_limits(tmp_path, menu, ok):
    from server.wechat import menu as menu_module

    path = tmp_path / "menu.json"
    path.write_text(json.dumps(menu, ensure_ascii=False), encoding="utf-8")
    if ok:
        assert menu_module.load(path)["button"]
    else:
        with pytest.raises(menu_module.MenuError):
            menu_module.load(path)


async def test_scanning_an_organisation_invitation_joins_it_once(live, wx):
    from models import OrgMember, OrgType
    from notices import service as notices_service
    from notices.config import load_config

    org = await notices_service.create_org(name="示例银行", type=OrgType("bank"), district="主城区",
                                           business_lines=["mortgage"], tags=[])
    invite = await notices_service.create_invitation(cfg=load_config(live.ctx.settings), org_id=org.id)
    data = wx.reply(await wx.post(event_xml("o-bank-1", "SCAN", key=invite["scene"]), "safe"))
    assert "示例银行" in data["Content"]
    member = await OrgMember.get(openid="o-bank-1")
    assert member.channel == "oa" and member.active
    again = wx.reply(await wx.post(event_xml("o-bank-2", "subscribe", key="qrscene_" + invite["scene"]), "safe"))
    assert "已被使用" in again["Content"]
    assert not await OrgMember.exists(openid="o-bank-2")
