"""WeChat sends for case progress: mini-program subscribe messages through the gateway."""

from __future__ import annotations

from server.wechat.client import WeChatGateway


async def send_stage_change(mp: WeChatGateway, *, openid: str, template_id: str, data: dict, page: str) -> None:
    """Send one stage-change subscribe message (errors propagate for the caller to classify)."""
    await mp.call(lambda c: c.wxa.send_subscribe_message(openid, template_id, data, page), api="subscribe")
