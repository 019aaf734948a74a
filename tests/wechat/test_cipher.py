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
    encrypt, signature = parts(WeChatCrypto(TOKEN, AES_KEY, APPID).encrypt_message(message, NONCE, TS))
    assert MessageCipher(TOKEN, AES_KEY, APPID).decrypt(envelope_of(encrypt), signature, TS, NONCE) == message


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
