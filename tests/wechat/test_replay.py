"""With an AES key configured only encrypted pushes are accepted; a (timestamp, nonce) pair is used once;
a body with a DTD is refused by the parser whatever its encoding."""

from __future__ import annotations

import pytest

from tests.wechat.helpers import event_xml, text_xml

QUESTION = "二手房过户要带什么材料"
BOMB = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE xml [<!ENTITY a "哈哈哈哈哈哈哈哈">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><ToUserName>gh</ToUserName>'
        '<FromUserName>o-bomb</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
        '<Content>&b;</Content><MsgId>1</MsgId></xml>')


def code(res) -> str:
    return res.json()["error"]["code"]


async def test_plain_pushes_are_refused_once_an_aes_key_is_configured(client, wx):
    res = await wx.post(text_xml("o-p", QUESTION), "plain")
    assert (res.status_code, code(res)) == (403, "WECHAT_SAFE_MODE_REQUIRED")
    # encrypt_type=aes without msg_signature is not safe mode either
    body, q = wx.envelope(text_xml("o-p", QUESTION), "safe", wx.query())
    del q["msg_signature"]
    assert code(await client.post("/wechat", params=q, content=body.encode())) == "WECHAT_SAFE_MODE_REQUIRED"


@pytest.mark.parametrize("xml", [text_xml("o-r", QUESTION), text_xml("o-r", "2024-0426-000123"),
                                 event_xml("o-r", "subscribe")])
async def test_a_signed_push_is_accepted_once(client, wx, xml):
    """Plain questions (commit step), receipt numbers and events (claim step) alike."""
    body, q = wx.envelope(xml, "safe", wx.query())
    first = await client.post("/wechat", params=q, content=body.encode())
    assert first.status_code == 200
    again = await client.post("/wechat", params=q, content=body.encode())
    assert (again.status_code, code(again)) == (403, "WECHAT_REPLAYED")
    # WeChat's own retry of the same message comes with a fresh nonce and gets the same reply.
    retry_body, retry_q = wx.envelope(xml, "safe", wx.query())
    retry = await client.post("/wechat", params=retry_q, content=retry_body.encode())
    assert retry.status_code == 200 and wx.reply(retry) == wx.reply(first)


async def test_a_dtd_is_refused_in_utf16_inside_safe_mode(client, wx):
    body, q = wx.envelope(BOMB.encode("utf-16"), "safe", wx.query())
    res = await client.post("/wechat", params=q, content=body.encode())
    assert (res.status_code, code(res)) == (400, "WECHAT_BAD_MESSAGE")
    assert "哈哈" not in res.text
