"""`dengji wechat menu push|show`: publish the custom menu in config/wechat_menu.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from server.wechat import menu


async def push_menu(settings, path: Path = menu.MENU_FILE) -> dict[str, Any]:
    """Push the menu file to WeChat with the account configured in settings."""
    from server.core.redis import Keys, create_redis
    from server.wechat.client import WeChatGateway

    redis = create_redis(settings)
    gateway = WeChatGateway(name="oa", appid=settings.wechat_appid, secret=settings.wechat_secret.get_secret_value(),
                            api_base=settings.wechat_api_base, timeout=settings.wechat_timeout_seconds,
                            redis=redis, keys=Keys(settings.redis_prefix), threads=2)
    try:
        return await menu.push(gateway, path, settings.public_base_url)
    finally:
        gateway.close()
        await redis.aclose()


def _run(args: argparse.Namespace) -> int:
    from config.settings import ConfigError, load_settings

    path = Path(args.file) if args.file else menu.MENU_FILE
    try:
        settings = load_settings()
        if args.menu_command == "show":
            payload = menu.wechat_payload(menu.load(path), settings.public_base_url)
            sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
            return 0
        if not (settings.wechat_appid and settings.wechat_secret.get_secret_value()):
            sys.exit("未配置公众号 AppID/AppSecret（DENGJI_WECHAT_APPID、DENGJI_WECHAT_SECRET）")
        payload = asyncio.run(push_menu(settings, path))
    except (menu.MenuError, ConfigError) as exc:
        sys.exit(f"菜单未推送：{exc}")
    except Exception as exc:  # WeChat refused or unreachable: say so without a traceback
        sys.exit(f"菜单推送失败：{getattr(exc, 'errmsg', None) or exc}")
    sys.stdout.write(f"已推送自定义菜单（{len(payload['button'])} 个一级菜单）\n")
    return 0


def register(subparsers: Any) -> None:
    wechat = subparsers.add_parser("wechat", help="公众号").add_subparsers(dest="wechat_command", required=True)
    m = wechat.add_parser("menu", help="自定义菜单").add_subparsers(dest="menu_command", required=True)
    for name, help_text in (("push", "推送菜单到微信"), ("show", "显示将要推送的菜单")):
        p = m.add_parser(name, help=help_text)
        p.add_argument("--file", help="菜单文件（默认 config/wechat_menu.json）")
        p.set_defaults(func=_run)
