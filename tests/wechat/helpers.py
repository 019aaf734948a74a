"""Build signed WeChat pushes the way WeChat's servers do, and read the replies back."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto

from tests.conftest import WECHAT_AES_KEY, WECHAT_TOKEN

ACCOUNT = "gh_dengji_test"
_msgids = itertools.count(int(time.time()) * 1000)


def new_msgid() -> int:
    return next(_msgids)


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(openid: str, content: str, *, msgid: int | None = None, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msgid or new_msgid()}</MsgId></xml>")


def event_xml(openid: str, event: str, *, key: str | None = None, create_time: int | None = None) -> str:
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key_xml}</xml>")


def media_xml(openid: str, msg_type: str, extra: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{extra}"
            f"<MsgId>{new_msgid()}</MsgId></xml>")


class WeChatServer:
    """Plays WeChat's server against our /wechat endpoint in plain, compatible or safe mode (safe by default:
    with an AES key configured, the endpoint accepts nothing else)."""

    def __init__(self, http: httpx.AsyncClient, appid: str, fake=None) -> None:
        self.http = http
        self.crypto = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, appid)
        self.fake = fake  # the fake WeChat API, told what the user did (it opens their reply window)

    def query(self, *, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        return {"signature": sign(WECHAT_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}

    def envelope(self, xml: str, mode: str, q: dict[str, str]) -> tuple[str, dict[str, str]]:
        if mode == "plain":
            return xml, q
        enc = xmltodict.parse(self.crypto.encrypt_message(xml, q["nonce"], q["timestamp"]))["xml"]
        q = {**q, "openid": "x", "encrypt_type": "aes", "msg_signature": enc["MsgSignature"]}
        encrypt = f"<Encrypt><![CDATA[{enc['Encrypt']}]]></Encrypt>"
        if mode == "safe":
            return f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>{encrypt}</xml>", q
        assert mode == "compat"  # plaintext fields and the ciphertext side by side
        return xml.replace("</xml>", encrypt + "</xml>"), q

    async def post(self, xml: str, mode: str = "safe", **kw) -> httpx.Response:
        if self.fake is not None:
            self._tell_fake(xmltodict.parse(xml)["xml"])
        body, q = self.envelope(xml, mode, self.query(**kw))
        return await self.http.post("/wechat", params=q, content=body.encode())

    def _tell_fake(self, msg: dict) -> None:
        openid, at = msg.get("FromUserName"), float(msg.get("CreateTime") or time.time())
        if msg.get("MsgType") != "event":
            self.fake.user_message(openid, at=at)
        elif msg.get("Event") == "subscribe":
            self.fake.follow(openid, at=at)
        elif msg.get("Event") == "unsubscribe":
            self.fake.unfollow(openid)
        elif msg.get("Event") in ("CLICK", "SCAN", "scancode_push", "scancode_waitmsg"):
            self.fake.user_event(openid, at=at)

    def reply(self, res: httpx.Response) -> dict:
        """Decrypt (if encrypted, checking our signature) and parse a passive reply."""
        assert res.status_code == 200, res.text
        data = xmltodict.parse(res.text)["xml"]
        if "Encrypt" in data:
            plain = self.crypto.decrypt_message(res.text, data["MsgSignature"], data["TimeStamp"], data["Nonce"])
            data = xmltodict.parse(plain)["xml"]
        return data

    async def ask(self, openid: str, content: str, mode: str = "safe", **kw) -> str:
        """Send a text message and return the text of the reply."""
        data = self.reply(await self.post(text_xml(openid, content, **kw), mode))
        assert data["MsgType"] == "text" and data["ToUserName"] == openid and data["FromUserName"] == ACCOUNT
        return data["Content"]
