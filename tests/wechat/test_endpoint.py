"""/wechat over real HTTP: URL check, the three encryption modes, signatures and bad input."""

from __future__ import annotations

import asyncio
import time

import pytest
import xmltodict

from server.progress.service import lookup_for_chat
from tests.conftest import WECHAT_TOKEN
from tests.wechat.helpers import ACCOUNT, event_xml, media_xml, sign, text_xml

QUESTION = "二手房过户要带什么材料"


def expected(oracle, question: str) -> str:
    reply = oracle.answer(question)
    assert reply.kind == "answer"
    return f"{reply.text}\n\n{oracle.text('feedback_hint')}"


async def test_url_verification_echoes_with_a_good_signature(client, wx):
    res = await client.get("/wechat", params={**wx.query(), "echostr": "echo-123"})
    assert res.status_code == 200 and res.text == "echo-123"


@pytest.mark.parametrize("change", ["signature", "non-ascii", "timestamp", "missing"])
async def test_url_verification_refuses_bad_signature_or_stale_time(client, wx, change):
    q = {**wx.query(), "echostr": "echo-123"}
    if change == "signature":
        q["signature"] = "0" * 40
    elif change == "non-ascii":
        q["signature"] = "签名%"
    elif change == "timestamp":
        q = {**wx.query(timestamp=int(time.time()) - 3600), "echostr": "echo-123"}
    else:
        del q["nonce"]
    res = await client.get("/wechat", params=q)
    assert res.status_code == 403
    assert "echo-123" not in res.text


@pytest.mark.parametrize("mode", ["compat", "safe"])
async def test_text_is_answered_in_every_mode(wx, oracle, mode):
    res = await wx.post(text_xml("o-user-1", QUESTION), mode)
    assert "<Encrypt>" in res.text
    data = wx.reply(res)
    assert data["ToUserName"] == "o-user-1" and data["FromUserName"] == ACCOUNT
    assert data["Content"] == expected(oracle, QUESTION)


async def test_traditional_and_full_width_text_is_understood(wx, oracle):
    assert await wx.ask("o-user-2", "二手房過戶要帶什麼材料", "safe") == expected(oracle, QUESTION)


async def test_wrong_plain_signature_is_refused(client, wx):
    q = {**wx.query(), "signature": sign(WECHAT_TOKEN, "1", "2")}
    res = await client.post("/wechat", params=q, content=text_xml("o-user-1", QUESTION).encode())
    assert res.status_code == 403


async def test_wrong_message_signature_is_refused(client, wx):
    body, q = wx.envelope(text_xml("o-user-1", QUESTION), "safe", wx.query())
    q["msg_signature"] = "f" * 40
    res = await client.post("/wechat", params=q, content=body.encode())
    assert res.status_code == 403


async def test_tampered_ciphertext_is_refused_even_when_resigned(client, wx):
    body, q = wx.envelope(text_xml("o-user-1", QUESTION), "safe", wx.query())
    encrypt = xmltodict.parse(body)["xml"]["Encrypt"]
    tampered = encrypt[:20] + ("A" if encrypt[20] != "A" else "B") + encrypt[21:]
    # Signed over the tampered text, so only decryption can notice.
    q["msg_signature"] = sign(WECHAT_TOKEN, q["timestamp"], q["nonce"], tampered)
    res = await client.post("/wechat", params=q, content=body.replace(encrypt, tampered).encode())
    # Re-signed (so by someone holding the token) and decrypted, its text garbled: refused as a bad message.
    assert res.status_code == 400 and res.json()["error"]["code"] == "WECHAT_BAD_MESSAGE"
    # And the ciphertext of another app (wrong appid inside) is refused too.
    from wechatpy.crypto import WeChatCrypto

    from tests.conftest import WECHAT_AES_KEY
    other = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, "wx-other-app")
    enc = xmltodict.parse(other.encrypt_message(text_xml("o-user-1", QUESTION), q["nonce"], q["timestamp"]))["xml"]
    q["msg_signature"] = enc["MsgSignature"]
    res = await client.post("/wechat", params=q,
                            content=f"<xml><Encrypt><![CDATA[{enc['Encrypt']}]]></Encrypt></xml>".encode())
    assert res.status_code == 403


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_stale_timestamp_is_refused(wx, mode):
    res = await wx.post(text_xml("o-user-1", QUESTION), mode, timestamp=int(time.time()) - 600)
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "WECHAT_STALE_TIMESTAMP"


@pytest.mark.parametrize("body", [b"<xml><ToUserName>gh", b"not xml at all",
                                  b"<xml><FromUserName>a</FromUserName></xml>", b"\xff\xfe<xml/>", b""])
async def test_malformed_xml_gets_a_clean_400(client, wx, body):
    """Signed and decrypted, but not a message: 400 (it used to be 403, as if the ciphertext were altered)."""
    content, q = wx.envelope(body, "safe", wx.query())
    res = await client.post("/wechat", params=q, content=content.encode())
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "WECHAT_BAD_MESSAGE"


async def test_safe_mode_envelope_without_ciphertext_is_refused(client, wx):
    q = {**wx.query(), "encrypt_type": "aes", "msg_signature": "a" * 40}
    res = await client.post("/wechat", params=q, content=b"<xml><ToUserName>gh</ToUserName></xml>")
    assert res.status_code == 403


async def test_oversized_body_gets_413_and_long_text_a_polite_answer(client, wx, oracle):
    huge = text_xml("o-user-1", "房" * 40_000)
    res = await client.post("/wechat", params=wx.query(), content=huge.encode())
    assert res.status_code == 413
    assert await wx.ask("o-user-1", "请问" * 150) == oracle.text("too_long")


@pytest.mark.parametrize("msg_type,extra", [
    ("image", "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"),
    ("voice", "<MediaId><![CDATA[m1]]></MediaId><Format><![CDATA[amr]]></Format>"),
    ("video", "<MediaId><![CDATA[m1]]></MediaId><ThumbMediaId><![CDATA[t1]]></ThumbMediaId>"),
    ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale><Label>x</Label>"),
    ("link", "<Title>t</Title><Description>d</Description><Url>http://x</Url>"),
    ("shortvideo", "<MediaId><![CDATA[m1]]></MediaId>"),
    ("brandnewtype", ""),
])
async def test_unsupported_message_types_get_a_polite_answer(wx, oracle, msg_type, extra):
    data = wx.reply(await wx.post(media_xml("o-user-3", msg_type, extra), "safe"))
    assert data["Content"] == oracle.text("unsupported_message")
    assert "文字" in data["Content"]


async def test_unknown_event_is_acknowledged_without_reply(wx):
    res = await wx.post(event_xml("o-user-3", "TEMPLATESENDJOBFINISH"), "safe")
    assert res.status_code == 200 and res.text == "success"


async def test_slow_answer_goes_out_as_customer_service_message(live, wx, fake_wechat):
    # A receipt number makes the answer wait for the database; with no reply budget that is too late.
    live.ctx.wechat_reply_budget = 0.0
    res = await wx.post(text_xml("o-slow-user", "帮我查一下2024-0426-000123"), "safe")
    assert res.status_code == 200 and res.text == "success"
    # wait_sent blocks: keep the event loop (which runs the app) free.
    sent = await asyncio.to_thread(fake_wechat.wait_sent, "custom", 1)
    assert sent[0]["touser"] == "o-slow-user" and sent[0]["msgtype"] == "text"
    assert sent[0]["text"]["content"] == await lookup_for_chat(app=live.app, openid="o-slow-user",
                                                               receipt_no="2024-0426-000123")
