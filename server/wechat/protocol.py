"""The public account's message protocol: signatures, the three encryption modes, parsing and replies.

Plaintext mode: `signature` over (token, timestamp, nonce). Compatible and safe modes add
`encrypt_type=aes` and `msg_signature` over the ciphertext too; we decrypt the `Encrypt` element and
answer encrypted. wechatpy does the cryptography and the XML; this module decides what to trust.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from wechatpy import parse_message
from wechatpy.messages import MESSAGE_TYPES, BaseMessage
from wechatpy.replies import TextReply, TransferCustomerServiceReply

from config.settings import Settings
from server.core.errors import AppError, BadRequest, Forbidden, ServiceUnavailable
from server.wechat import cipher

# Messages from WeChat are a few KB at most; anything bigger is not from WeChat.
MAX_BODY_BYTES = 64 * 1024
# WeChat signs each push with the time it was sent; an old signed push is a replay.
MAX_CLOCK_SKEW_SECONDS = 300


class PayloadTooLarge(AppError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "消息内容过大"


class BadSignature(Forbidden):
    code, message = "WECHAT_BAD_SIGNATURE", "微信消息签名校验失败"


@dataclass(frozen=True)
class Endpoint:
    """The account's message-server configuration (built once per worker)."""

    token: str
    appid: str
    crypto: cipher.MessageCipher | None
    max_skew: int = MAX_CLOCK_SKEW_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> Endpoint:
        token = settings.wechat_token.get_secret_value()
        aes_key = settings.wechat_aes_key.get_secret_value()
        crypto = cipher.MessageCipher(token, aes_key, settings.wechat_appid) if token and aes_key else None
        return cls(token=token, appid=settings.wechat_appid, crypto=crypto)


@dataclass(frozen=True)
class Inbound:
    """A verified, decrypted, parsed push from WeChat."""

    message: BaseMessage
    encrypted: bool
    nonce: str

    @property
    def raw(self) -> dict[str, Any]:
        return self.message._data


def parse_query(query_string: str) -> dict[str, str]:
    """WeChat's query arguments (first value of each). Its values are plain ASCII, so unquoting is
    rarely needed; this is a fifth of the cost of the general parser on every message."""
    out: dict[str, str] = {}
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        out.setdefault(name, value)
    return out


def _arg(query, name: str) -> str:
    value = query.get(name)
    return value if isinstance(value, str) else ""


def _signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    expected = hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())  # bytes: any input compares


def verify(endpoint: Endpoint, query) -> None:
    """Check the plain signature and the timestamp of a push; raise Forbidden otherwise."""
    if not endpoint.token:
        raise ServiceUnavailable("公众号消息接口未配置", code="WECHAT_NOT_CONFIGURED")
    signature, timestamp, nonce = _arg(query, "signature"), _arg(query, "timestamp"), _arg(query, "nonce")
    if not (signature and timestamp and nonce):
        raise BadSignature()
    if not _signature_ok(endpoint.token, signature, timestamp, nonce):
        raise BadSignature()
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > endpoint.max_skew:
        raise Forbidden("微信消息时间戳已过期", code="WECHAT_STALE_TIMESTAMP")


def verify_url(endpoint: Endpoint, query) -> str:
    """Answer WeChat's server-URL check: return echostr when the signature holds."""
    verify(endpoint, query)
    return _arg(query, "echostr")


def decode(endpoint: Endpoint, query, body: bytes) -> Inbound:
    """Verify, decrypt (compatible/safe mode) and parse a pushed message."""
    verify(endpoint, query)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    encrypted = _arg(query, "encrypt_type").lower() == "aes"
    xml: bytes | str = body
    if encrypted:
        if endpoint.crypto is None:
            raise BadRequest("未配置消息加解密密钥", code="WECHAT_AES_NOT_CONFIGURED")
        try:
            xml = endpoint.crypto.decrypt(body, _arg(query, "msg_signature"), _arg(query, "timestamp"),
                                          _arg(query, "nonce"))
        except cipher.BadSignature as exc:
            raise BadSignature() from exc
        except cipher.BadCiphertext as exc:  # malformed envelope, tampered ciphertext, padding or appid mismatch
            raise Forbidden("微信消息解密失败", code="WECHAT_BAD_CIPHERTEXT") from exc
    try:
        message = _parse_plain_message(xml) or parse_message(xml)
    except Exception as exc:  # expat errors, missing <xml>/<MsgType>, non-UTF-8 bytes
        if encrypted:  # signed but undecodable: the ciphertext was altered (AES-CBC has no MAC of its own)
            raise Forbidden("微信消息解密失败", code="WECHAT_BAD_CIPHERTEXT") from exc
        raise BadRequest("微信消息格式有误", code="WECHAT_BAD_MESSAGE") from exc
    if message is None or not message.source:
        raise BadRequest("微信消息格式有误", code="WECHAT_BAD_MESSAGE")
    return Inbound(message=message, encrypted=encrypted, nonce=_arg(query, "nonce"))


# One flat element: <Name><![CDATA[text]]></Name> or <Name>text</Name> (text without markup or entities).
_ELEMENT = re.compile(r"\s*<(\w+)>(?:<!\[CDATA\[((?:(?!\]\]>).)*)\]\]>|([^<&]*))</\1>", re.DOTALL)


def _flat_elements(xml: str) -> dict[str, str | None] | None:
    """The elements of a flat <xml> document as xmltodict gives them, or None if it is anything else
    (nesting, entities, comments, split CDATA …): those are left to a real XML parser."""
    body = xml.strip()
    if not (body.startswith("<xml>") and body.endswith("</xml>")):
        return None
    inner, pos, data = body[5:-6], 0, {}
    while True:
        m = _ELEMENT.match(inner, pos)
        if m is None:
            break
        text = m.group(2) if m.group(2) is not None else m.group(3)
        data[m.group(1)] = text.strip() or None  # xmltodict strips text and gives None for empty
        pos = m.end()
    return data if inner[pos:].strip() == "" else None


def _parse_plain_message(xml: bytes | str) -> BaseMessage | None:
    """Parse a flat, non-event message (text, image, voice …); None for anything else.

    wechatpy's parser (xmltodict) is the slower part of handling a message. The flat elements of a
    message are read with a pattern, anything unusual with ElementTree; events, nested elements and
    unknown types go through wechatpy, which also knows their special cases.
    """
    raw = xml if isinstance(xml, bytes) else xml.encode()
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise BadRequest("微信消息格式有误", code="WECHAT_BAD_MESSAGE")
    data = _flat_elements(xml if isinstance(xml, str) else raw.decode())
    if data is None:
        root = ET.fromstring(raw)
        if root.tag != "xml":
            return None
        data = {}
        for child in root:
            if len(child):
                return None
            data[child.tag] = (child.text or "").strip() or None  # as xmltodict gives it
    message_class = MESSAGE_TYPES.get(str(data.get("MsgType") or "").lower())
    return message_class(data) if message_class is not None else None


def render_text(inbound: Inbound, content: str) -> str:
    """Render a passive text reply to the sender (plain XML, before encryption)."""
    return TextReply(message=inbound.message, content=content).render()


class Transfer(str):
    """A handler's answer that hands the conversation to the account's customer-service staff.

    Its text is what to say instead when the passive reply window has passed (a late answer cannot transfer)."""


def render(inbound: Inbound, out: str) -> str:
    """Render a handler's answer: a text reply, or WeChat's documented `transfer_customer_service` reply."""
    if isinstance(out, Transfer):
        return TransferCustomerServiceReply(message=inbound.message).render()
    return render_text(inbound, out)


def encode(endpoint: Endpoint, inbound: Inbound, reply_xml: str) -> str:
    """Encrypt a rendered reply when the push came encrypted; "success" is sent as is."""
    if reply_xml == "success" or not inbound.encrypted or endpoint.crypto is None:
        return reply_xml
    return endpoint.crypto.encrypt(reply_xml, inbound.nonce, str(int(time.time())))
