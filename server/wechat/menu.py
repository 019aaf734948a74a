"""The custom menu: data in config/wechat_menu.json, pushed to WeChat, and what a click answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config.settings import PROJECT_DIR

MENU_FILE = PROJECT_DIR / "config" / "wechat_menu.json"
# WeChat's own limits on a custom menu.
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
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
            _check_leaf_name(b)
            for s in subs:
                _check_leaf(s, keys)
        else:
            _check_leaf(b, keys)
    return menu


def _check_leaf_name(b: dict[str, Any]) -> None:
    if not isinstance(b.get("name"), str) or not b["name"].strip():
        raise MenuError("每个菜单都要有名称")


def _check_leaf(b: dict[str, Any], keys: set[str]) -> None:
    _check_leaf_name(b)
    kind = b.get("type")
    if kind == "click":
        key = b.get("key")
        if not isinstance(key, str) or not key or key in keys:
            raise MenuError(f"“{b['name']}”的 key 缺失或重复")
        keys.add(key)
        reply = b.get("reply")
        if not isinstance(reply, dict) or len(reply) != 1 or next(iter(reply)) not in REPLY_KINDS:
            raise MenuError(f"“{b['name']}”的 reply 须为 intent、entry、text 之一")
    elif kind == "view" and not b.get("url"):
        raise MenuError(f"“{b['name']}”缺少 url")
    elif kind is None:
        raise MenuError(f"“{b['name']}”缺少 type")


def wechat_payload(menu: dict[str, Any]) -> dict[str, Any]:
    """Return the menu as WeChat's menu/create expects it (our reply specs and notes removed)."""
    def strip(b: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in b.items() if k != "reply" and not k.startswith("_")}
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


async def push(gateway, path: Path = MENU_FILE) -> dict[str, Any]:
    """Create the menu at WeChat through the gateway; return the payload sent."""
    payload = wechat_payload(load(path))
    await gateway.call(lambda c: c.menu.create(payload), api="menu")
    return payload
