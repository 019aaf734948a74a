"""Our message cipher against wechatpy's (the reference peer), both ways, and its refusals."""

from __future__ import annotations

import base64

import pytest
from wechatpy.crypto import WeChatCrypto

from server.wechat.cipher import BadCiphertext, BadSignature, MessageCipher

TOKEN, AES_KEY, APPID = "tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx-appid-1"
TS, NONCE = "1700000000", "n0nce"


def parts(envelope: str) -> tuple[str, str]:
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    return encrypt, signature


def envelope_of(encrypt: str) -> bytes:
    return f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()


# Lengths around the 32-byte padding boundary, and multi-byte text.
MESSAGES = ["", "a", "x" * 11, "x" * 12, "x" * 13, "y" * 43, "y" * 44, "二手房过户要带什么材料" * 7, "<xml>😀</xml>"]


@pytest.mark.parametrize("message", MESSAGES)
def test_reads_what_wechatpy_writes(message):
    envelope = WeChatCrypto(TOKEN, AES_KEY, APPID).encrypt_message(message, NONCE, TS)
    encrypt, signature = parts(envelope)
    ours = MessageCipher(TOKEN, AES_KEY, APPID)
    assert ours.decrypt(envelope_of(encrypt), signature, TS, NONCE) == message
    assert ours.decrypt(envelope, signature, TS, NONCE) == message  # wechatpy's own envelope layout
    assert ours.decrypt(b'<?xml version="1.0"?>\n' + envelope_of(encrypt), signature, TS, NONCE) == message


@pytest.mark.parametrize("message", MESSAGES)
def test_wechatpy_reads_what_it_writes(message):
    envelope = MessageCipher(TOKEN, AES_KEY, APPID).encrypt(message, NONCE, TS)
    assert WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(envelope, parts(envelope)[1], TS, NONCE) == message


def test_refuses_wrong_signature_other_account_tampering_and_dtds():
    ours = MessageCipher(TOKEN, AES_KEY, APPID)
    encrypt, signature = parts(WeChatCrypto(TOKEN, AES_KEY, "wx-other").encrypt_message("<xml/>", NONCE, TS))
    with pytest.raises(BadCiphertext):  # meant for another appid
        ours.decrypt(envelope_of(encrypt), signature, TS, NONCE)
    encrypt, signature = parts(WeChatCrypto(TOKEN, AES_KEY, APPID).encrypt_message("<xml/>", NONCE, TS))
    with pytest.raises(BadSignature):
        ours.decrypt(envelope_of(encrypt), "0" * 40, TS, NONCE)
    with pytest.raises(BadSignature):  # not even ASCII
        ours.decrypt(envelope_of(encrypt), "签名" * 20, TS, NONCE)
    with pytest.raises(BadSignature):  # the signature covers the timestamp
        ours.decrypt(envelope_of(encrypt), signature, "1700000001", NONCE)
    raw = bytearray(base64.b64decode(encrypt))
    raw[-1] ^= 0x55  # breaks the padding / appid; re-signed so only the ciphertext is wrong
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(BadCiphertext):
        ours.decrypt(envelope_of(tampered), ours.signature(TS, NONCE, tampered), TS, NONCE)
    for body in (b"not xml", b"<xml><Encrypt></Encrypt></xml>", b"<other><Encrypt>x</Encrypt></other>",
                 b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'):
        with pytest.raises(BadCiphertext):
            ours.decrypt(body, signature, TS, NONCE)
    with pytest.raises(BadCiphertext):  # not base64
        ours.decrypt(envelope_of("%%%"), ours.signature(TS, NONCE, "%%%"), TS, NONCE)


@pytest.mark.parametrize("xml", [
    "<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[  二手房 过户\n要带什么 ]]></Content><MsgId>1234567890123456</MsgId></xml>",
    "<xml><ToUserName>gh</ToUserName><FromUserName>o-2</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>TEXT</MsgType><Content>a &amp; b &lt;c&gt;</Content><MsgId>9</MsgId></xml>",
    "<xml><ToUserName>gh</ToUserName><FromUserName>o-3</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>location</MsgType><Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale>"
    "<Label></Label><MsgId>10</MsgId></xml>",
    "<xml><ToUserName>gh</ToUserName><FromUserName>o-4</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition>你好</Recognition>"
    "<MsgId>11</MsgId></xml>",
    # Markup inside CDATA, an entity outside it, a comment, a split CDATA section, whitespace around.
    "\n <xml>\n<ToUserName><![CDATA[gh]]></ToUserName>\n<FromUserName><![CDATA[o-5]]></FromUserName>\n"
    "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[<b>加粗</b> &amp; 不是实体]]></Content><MsgId>12</MsgId>\n</xml>\n",
    "<xml><FromUserName>o-6</FromUserName><MsgType>text</MsgType><Content>&#20013;&lt;</Content></xml>",
    "<xml><FromUserName>o-7</FromUserName><!-- note --><MsgType>text</MsgType><Content>x</Content></xml>",
    "<xml><FromUserName>o-8</FromUserName><MsgType>text</MsgType>"
    "<Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>",
])
def test_flat_messages_parse_as_wechatpy_parses_them(xml):
    from wechatpy import parse_message

    from server.wechat.protocol import _parse_message

    ours, theirs = _parse_message(xml), parse_message(xml)
    assert type(ours) is type(theirs)
    assert ours._data == theirs._data
    assert (ours.source, ours.id, getattr(ours, "content", None)) == (theirs.source, theirs.id,
                                                                       getattr(theirs, "content", None))


@pytest.mark.parametrize("xml", [
    "<xml><FromUserName>o</FromUserName><MsgType>event</MsgType><Event>subscribe</Event></xml>",
    "<xml><FromUserName>o</FromUserName><MsgType>event</MsgType><Event>subscribe</Event>"
    "<EventKey>qrscene_hall:east</EventKey></xml>",
    "<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Nested><A>1</A></Nested></xml>",
])
def test_events_and_nested_messages_are_left_to_wechatpy(xml):
    from wechatpy import parse_message

    from server.wechat.protocol import _parse_message

    ours, theirs = _parse_message(xml), parse_message(xml)
    assert type(ours) is type(theirs) and ours._data == theirs._data
