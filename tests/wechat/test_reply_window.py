"""Customer-service messages outside the user's reply window (issue 10): WeChat's 45015 and 45047 mean "not now,
not until the user writes again", so the send is classified as outside the window, recorded, and not retried.

The fake answers them by WeChat's published rule (a user's message opens 48 hours for 5 messages, a menu click
1 minute for 3; see tests/fakewechat.py REPLY_WINDOWS), never by a forced error code.
"""

from __future__ import annotations

import asyncio
import time

from server.core import metrics
from server.wechat.messaging import Delivery, send_text
from tests.wechat.helpers import text_xml

CUSTOM = "cgi-bin/message/custom/send"


def _unreachable(errcode: int) -> float:
    return metrics.WECHAT_UNREACHABLE.labels("custom", str(errcode))._value.get()


async def test_a_user_who_never_wrote_is_outside_the_window_45015_and_not_retried(live, fake_wechat):
    before = _unreachable(45015)
    started = time.monotonic()
    assert await send_text(app=live.app, openid="o-never-wrote", text="您好") is Delivery.OUTSIDE_WINDOW
    assert time.monotonic() - started < 0.9  # no retry with its 1 s back-off
    assert len(fake_wechat.calls_to(CUSTOM)) == 1 and fake_wechat.sent("custom") == []
    assert _unreachable(45015) == before + 1


async def test_a_message_older_than_48_hours_no_longer_opens_the_window(live, fake_wechat):
    fake_wechat.user_message("o-old", at=time.time() - 48 * 3600 - 5)
    assert await send_text(app=live.app, openid="o-old", text="您好") is Delivery.OUTSIDE_WINDOW
    fake_wechat.user_message("o-old", at=time.time() - 48 * 3600 + 30)  # just inside
    assert await send_text(app=live.app, openid="o-old", text="您好") is Delivery.SENT


async def test_an_unfollowed_user_is_outside_the_window(live, fake_wechat):
    fake_wechat.follow("o-left")
    fake_wechat.user_message("o-left")
    fake_wechat.unfollow("o-left")  # "response out of time limit or subscription is canceled"
    assert await send_text(app=live.app, openid="o-left", text="您好") is Delivery.OUTSIDE_WINDOW
    assert fake_wechat.sent("custom", touser="o-left") == []


async def test_the_sixth_message_after_the_user_s_last_is_45047_and_not_retried(live, fake_wechat):
    fake_wechat.user_message("o-chatty")
    results = [await send_text(app=live.app, openid="o-chatty", text=f"第{i}条") for i in range(1, 6)]
    assert results == [Delivery.SENT] * 5
    before = _unreachable(45047)
    started = time.monotonic()
    assert await send_text(app=live.app, openid="o-chatty", text="第6条") is Delivery.OUTSIDE_WINDOW
    assert time.monotonic() - started < 0.9  # 45047 is not retried: only the user's next message helps
    assert len(fake_wechat.calls_to(CUSTOM)) == 6 and len(fake_wechat.sent("custom", touser="o-chatty")) == 5
    assert _unreachable(45047) == before + 1
    fake_wechat.user_message("o-chatty")  # the user writes again: a new window
    assert await send_text(app=live.app, openid="o-chatty", text="第7条") is Delivery.SENT


async def test_a_slow_answer_uses_the_window_the_message_opened_then_45047(live, wx, fake_wechat):
    """Over /wechat: an answer that missed the passive reply goes out in the window the message opened; once
    the window's five are used up, the next send is refused with 45047 and not retried."""
    live.ctx.wechat_reply_budget = 0.0
    res = await wx.post(text_xml("o-late", "帮我查一下2024-0426-000123"), "safe")
    assert res.status_code == 200 and res.text == "success"
    sent = await asyncio.to_thread(fake_wechat.wait_sent, "custom", 1)
    assert sent[0]["touser"] == "o-late"
    for _ in range(4):  # the rest of the five the message allowed
        assert await send_text(app=live.app, openid="o-late", text="补充说明") is Delivery.SENT
    calls = len(fake_wechat.calls_to(CUSTOM))
    assert await send_text(app=live.app, openid="o-late", text="再补充") is Delivery.OUTSIDE_WINDOW
    assert len(fake_wechat.calls_to(CUSTOM)) == calls + 1
