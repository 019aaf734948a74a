"""The custom menu: data in config/wechat_menu.json, pushed to WeChat, and what a click answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config.settings import PROJECT_DIR

MENU_FILE = PROJECT_DIR / "config" / "wechat_menu.json"
# WeChat's own limits on a custom menu (创建自定义菜单, developers.weixin.qq.com/doc/service/api/custommenu/
# api_createcustommenu.html): 1–3 buttons, 1–5 sub-buttons each; names at most 16 bytes of UTF-8 (a sub-button's
# 60), keys 128 bytes, URLs 1024 bytes. Checked here so a bad file never reaches WeChat.
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_NAME_BYTES, MAX_SUB_NAME_BYTES, MAX_KEY_BYTES, MAX_URL_BYTES = 16, 60, 128, 1024
REPLY_KINDS = ("intent", "entry", "text")


class MenuError(ValueError):
    """The menu file breaks WeChat's rules or ours."""


def load(path: Path = MENU_FILE) -> dict[str, Any]:
    """Read and check the menu file."""
    try:
        menu = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MenuError(f"无法读取菜单文件 {path}：{exc}") from exc
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise MenuError(f"菜单须有 1–{MAX_BUTTONS} 个一级菜单")
    keys: set[str] = set()
    for b in buttons:
        subs = b.get("sub_button")
        if subs is not None:
            if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
                raise MenuError(f"“{b.get('name')}”须有 1–{MAX_SUB_BUTTONS} 个子菜单")
            _check_leaf_name(b, MAX_NAME_BYTES)
            for s in subs:
                _check_leaf(s, keys, MAX_SUB_NAME_BYTES)
        else:
            _check_leaf(b, keys, MAX_NAME_BYTES)
    return menu


def _check_leaf_name(b: dict[str, Any], max_bytes: int) -> None:
    if not isinstance(b.get("name"), str) or not b["name"].strip():
        raise MenuError("每个菜单都要有名称")
    if len(b["name"].encode("utf-8")) > max_bytes:
        level = "一级菜单" if max_bytes == MAX_NAME_BYTES else "子菜单"
        raise MenuError(f"“{b['name']}”过长：{level}名称最多 {max_bytes} 字节（约 {max_bytes // 3} 个汉字）")


def _check_leaf(b: dict[str, Any], keys: set[str], max_name_bytes: int) -> None:
    _check_leaf_name(b, max_name_bytes)
    kind = b.get("type")
    if kind == "click":
        key = b.get("key")
        if not isinstance(key, str) or not key or key in keys:
            raise MenuError(f"“{b['name']}”的 key 缺失或重复")
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise MenuError(f"“{b['name']}”的 key 最多 {MAX_KEY_BYTES} 字节")
        keys.add(key)
        reply = b.get("reply")
        if not isinstance(reply, dict) or len(reply) != 1 or next(iter(reply)) not in REPLY_KINDS:
            raise MenuError(f"“{b['name']}”的 reply 须为 intent、entry、text 之一")
    elif kind == "view":
        url = b.get("url")
        if not isinstance(url, str) or not url.startswith(("/", "https://", "http://")):
            raise MenuError(f"“{b['name']}”缺少 url，或 url 不以 / 或 http(s):// 开头")
        if len(url.encode("utf-8")) > MAX_URL_BYTES:
            raise MenuError(f"“{b['name']}”的 url 最多 {MAX_URL_BYTES} 字节")
    elif kind is None:
        raise MenuError(f"“{b['name']}”缺少 type")


def wechat_payload(menu: dict[str, Any], base_url: str = "") -> dict[str, Any]:
    """Return the menu as WeChat's menu/create expects it (our reply specs and notes removed).

    A VIEW link written as a path ("/api/oa/oauth/authorize?next=/h5/booking") is made absolute on base_url
    (DENGJI_PUBLIC_BASE_URL): WeChat opens only absolute links, and the center's domain is deployment data.
    """
    base = base_url.rstrip("/")

    def strip(b: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in b.items() if k != "reply" and not k.startswith("_")}
        if out.get("type") == "view" and out["url"].startswith("/"):
            if not base.startswith(("https://", "http://")):
                raise MenuError(f"“{out['name']}”链接到本服务的页面，须先配置 DENGJI_PUBLIC_BASE_URL（如 https://域名）")
            out["url"] = base + out["url"]
            if len(out["url"].encode()) > MAX_URL_BYTES:
                raise MenuError(f"“{out['name']}”的 url 过长（最多 {MAX_URL_BYTES} 字节）")
        if "sub_button" in out:
            out["sub_button"] = [strip(s) for s in out["sub_button"]]
        return out

    return {"button": [strip(b) for b in menu["button"]]}


def click_replies(menu: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Map each click key to its reply spec."""
    out: dict[str, dict[str, str]] = {}
    for b in menu["button"]:
        for leaf in b.get("sub_button") or [b]:
            if leaf.get("type") == "click":
                out[leaf["key"]] = leaf["reply"]
    return out


def reply_for_click(bot, replies: dict[str, dict[str, str]], key: str) -> str:
    """The text a click on a menu key answers (the welcome text for an unknown key)."""
    spec = replies.get(key) or {"text": "welcome"}
    if "intent" in spec:
        return bot.intent_reply(spec["intent"]).text
    if "entry" in spec:
        return bot.pick(spec["entry"]).text
    return bot.text(spec["text"]) or bot.text("welcome")


async def push(gateway, path: Path = MENU_FILE, base_url: str = "") -> dict[str, Any]:
    """Create the menu at WeChat through the gateway; return the payload sent."""
    payload = wechat_payload(load(path), base_url)
    await gateway.call(lambda c: c.menu.create(payload), api="menu")
    return payload
