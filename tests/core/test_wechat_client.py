"""The WeChat client layer against the fake WeChat API over real HTTP."""

import asyncio
import threading

import pytest
from wechatpy.exceptions import WeChatClientException


async def test_token_is_fetched_once_and_shared(live, fake_wechat):
    gw = live.ctx.wechat
    tokens = await asyncio.gather(*(gw.token() for _ in range(20)))
    assert len(set(tokens)) == 1
    assert fake_wechat.token_fetches == 1
    # a second gateway (another worker) sharing Redis reuses the token
    from server.wechat.client import WeChatGateway

    other = WeChatGateway(name="oa2", appid=gw.appid, secret=fake_wechat.secret,
                          api_base=fake_wechat.base_url, timeout=5, redis=live.ctx.redis, keys=live.ctx.keys)
    assert await other.token() == tokens[0]
    other.close()
    assert fake_wechat.token_fetches == 1


async def test_calls_run_off_the_event_loop(live):
    seen = {}

    def probe(client):
        seen["thread"] = threading.current_thread().name
        seen["token"] = client.access_token
        return client.menu.get()

    await live.ctx.wechat.call(probe)
    assert seen["thread"].startswith("wechat-oa")
    assert seen["token"]


async def test_expired_token_is_refreshed_and_retried_once(live, fake_wechat):
    gw = live.ctx.wechat
    first = await gw.token()
    fake_wechat.user_message("openid-1")  # customer-service messages answer a user's message
    fake_wechat.expire_tokens()
    result = await gw.call(lambda c: c.message.send_text("openid-1", "您好"), api="custom")
    assert result["errcode"] == 0
    assert await gw.token() != first
    assert fake_wechat.sent("custom")[-1]["touser"] == "openid-1"


async def test_other_errors_are_not_retried(live, fake_wechat):
    await live.ctx.wechat.token()
    fake_wechat.fail_next("/cgi-bin/message/custom/send", 45009, times=1)
    with pytest.raises(WeChatClientException) as info:
        await live.ctx.wechat.call(lambda c: c.message.send_text("openid-1", "您好"))
    assert info.value.errcode == 45009
    assert fake_wechat.sent("custom") == []


async def test_each_gateway_holds_its_own_apps_token(live, fake_wechat):
    """The mini-program gateway sends subscribe messages, the public account's sends template messages;
    WeChat refuses either app's token on the other's API (48001), and does not count it as an expired token."""
    assert (live.ctx.mp.appid, live.ctx.wechat.appid) == (fake_wechat.mp_appid, fake_wechat.appid)
    fake_wechat.accept_subscription("o-1", "tpl")
    fake_wechat.follow("o-1")
    data = {"thing1": {"value": "预约提醒"}}
    with pytest.raises(WeChatClientException) as info:
        await live.ctx.wechat.call(lambda c: c.wxa.send_subscribe_message("o-1", "tpl", data))
    assert info.value.errcode == 48001
    with pytest.raises(WeChatClientException) as info:
        await live.ctx.mp.call(lambda c: c.message.send_template("o-1", "tpl", data))
    assert info.value.errcode == 48001
    await live.ctx.mp.call(lambda c: c.wxa.send_subscribe_message("o-1", "tpl", data))
    await live.ctx.wechat.call(lambda c: c.message.send_template("o-1", "tpl", data))
    assert len(fake_wechat.sent("subscribe")) == len(fake_wechat.sent("template")) == 1
    assert fake_wechat.token_fetches == 2  # one token per app, no refresh after the refusals
