"""The public account's message protocol: signatures, the three encryption modes, parsing and replies.

Plaintext mode: `signature` over (token, timestamp, nonce). Compatible and safe modes add
`encrypt_type=aes` and `msg_signature` over the ciphertext too; we decrypt the `Encrypt` element and
answer encrypted. wechatpy does the cryptography and the XML; this module decides what to trust.

The plain signature covers no body, so once an AES key is configured only encrypted pushes (compatible or
safe mode, whose `msg_signature` covers the ciphertext) are accepted; and in every mode a (timestamp, nonce)
pair is accepted once within the replay window (remembered in Redis with the push's dedup claim, see
dedup.py). Documents are parsed by a pattern for flat UTF-8 messages and otherwise by defusedxml, which
refuses DTDs and entities whatever the encoding (UTF-16 included).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring
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


class SafeModeRequired(Forbidden):
    code, message = "WECHAT_SAFE_MODE_REQUIRED", "已配置消息加解密密钥，只接受安全模式（加密）消息"


class Replayed(Forbidden):
    code, message = "WECHAT_REPLAYED", "该消息签名已使用过，拒绝重放"


class BadMessage(BadRequest):
    code, message = "WECHAT_BAD_MESSAGE", "微信消息格式有误"


# A nonce is a short random string; anything longer is not WeChat's.
MAX_NONCE_LENGTH = 64


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
    timestamp: str = ""

    @property
    def replay_parts(self) -> tuple[str, str]:
        """What makes this push's signature single-use: (timestamp, nonce)."""
        return self.timestamp, self.nonce

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
    if not (signature and timestamp and nonce) or len(nonce) > MAX_NONCE_LENGTH:
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
    if endpoint.crypto is not None and not (encrypted and _arg(query, "msg_signature")):
        raise SafeModeRequired()
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
        message = _parse_message(xml)
    except BadMessage:
        raise
    except Exception as exc:  # parse errors, DTDs and entities (defusedxml), missing <xml>/<MsgType>, encodings
        # Signed (and, in safe mode, decrypted): the sender holds the token, the body is just not a message.
        raise BadMessage() from exc
    if message is None or not message.source:
        raise BadMessage()
    return Inbound(message=message, encrypted=encrypted, nonce=_arg(query, "nonce"), timestamp=_arg(query, "timestamp"))


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


def _parse_message(xml: bytes | str) -> BaseMessage | None:
    """Parse a push safely into a wechatpy message.

    wechatpy's parser (xmltodict on expat) is the slower part of handling a message, and expat expands a
    document's internal entities. Flat UTF-8 messages are read with a pattern (which admits no markup
    declarations); anything else goes through defusedxml, which refuses DTDs and entities in any encoding.
    Only a document one of the two accepted reaches wechatpy (events, nested elements), which knows their
    special cases.
    """
    raw = xml if isinstance(xml, bytes) else xml.encode()
    try:
        text = xml if isinstance(xml, str) else raw.decode()
    except UnicodeDecodeError:
        text = None
    data = _flat_elements(text) if text is not None else None
    if data is None:
        try:
            root = safe_fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except (DefusedXmlException, ParseError, ValueError) as exc:
            raise BadMessage() from exc
        if root.tag != "xml" or text is None:  # wechatpy reads UTF-8 only
            raise BadMessage()
        if any(len(child) for child in root):
            return parse_message(text)  # nested elements: checked safe above, wechatpy knows their shapes
        data = {child.tag: (child.text or "").strip() or None for child in root}  # as xmltodict gives it
    msg_type = str(data.get("MsgType") or "").lower()
    message_class = MESSAGE_TYPES.get(msg_type)
    if message_class is not None:
        return message_class(data)
    if not msg_type:
        raise BadMessage()
    return parse_message(text)  # events and unknown types: a document already found flat and DTD-free


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
