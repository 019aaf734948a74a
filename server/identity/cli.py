"""`dengji dev citizen`: a verified citizen session for trying the citizen API without a real WeChat.

Development only: refused in production, and it asks the running service (POST /api/dev/citizen, answered only
outside production and only from this machine), because sessions live in that service's Redis, which in the
embedded mode is inside its process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REFUSED = "生产环境不能创建测试市民身份（dengji dev citizen 仅供开发使用）"

def cmd_dev_citizen(args: argparse.Namespace) -> None:
    import httpx

    from server.cli import _settings

    # Refused before the settings are checked: production demands settings this command never needs, and
    # the refusal must say why, not which of them is missing.
    if os.environ.get("DENGJI_ENV", "").strip().lower() == "production":
        sys.exit(REFUSED)
    settings = _settings()
    if settings.env == "production":
        sys.exit(REFUSED)
    url = (args.url or f"http://{settings.host}:{settings.port}").rstrip("/")
    body = {"name": args.name, "id_number": args.id_number} | ({"mobile": args.mobile} if args.mobile else {})
    try:
        res = httpx.post(url + "/api/dev/citizen", json=body, timeout=10)
    except httpx.HTTPError as exc:
        sys.exit(f"无法连接服务 {url}（请先运行 make run 或 dengji serve）：{exc}")
    data = res.json()
    if res.status_code != 200:
        sys.exit(f"创建失败：{data.get('error', {}).get('message', res.text)}")
    if args.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(data["token"] + "\n")


def register(sub) -> None:
    dev = sub.add_parser("dev", help="开发辅助（生产环境不可用）").add_subparsers(dest="dev_command", required=True)
    citizen = dev.add_parser("citizen", help="创建已实名核验的测试市民，打印其访问令牌（bearer token）")
    citizen.add_argument("--name", required=True)
    citizen.add_argument("--id-number", required=True)
    citizen.add_argument("--mobile", default="13800000000", help="预约需要手机号（默认 13800000000）")
    citizen.add_argument("--url", help="运行中的服务地址，默认 http://DENGJI_HOST:DENGJI_PORT")
    citizen.add_argument("--json", action="store_true", help="输出令牌和脱敏的市民信息（JSON）")
    citizen.set_defaults(func=cmd_dev_citizen)
