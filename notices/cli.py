"""`dengji orgs import FILE` and `dengji notices recover`."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path


def cmd_orgs_import(args: argparse.Namespace) -> None:
    from server.cli import _settings, _with_db

    path = Path(args.file)
    if not path.exists():
        sys.exit(f"文件不存在：{path}")
    # utf-8-sig accepts files saved by Excel with a BOM as well as plain UTF-8.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))

    async def run():
        from notices import service

        return await service.import_orgs(rows)

    result = asyncio.run(_with_db(_settings(), run))
    print(f"新增机构 {result['created']} 家，更新 {result['updated']} 家，失败 {len(result['errors'])} 行")  # noqa: T201
    for line in result["errors"]:
        print("  " + line)  # noqa: T201
    if result["errors"]:
        sys.exit(1)


def cmd_notices_recover(args: argparse.Namespace) -> None:
    from server.cli import _settings

    settings = _settings()

    async def run():
        from server.core import db
        from server.core.jobs import create_queue
        from server.core.redis import Keys, create_redis

        await db.open_db(settings)
        redis = create_redis(settings)
        ctx = {"settings": settings, "redis": redis, "keys": Keys(settings.redis_prefix)}
        ctx["jobs"] = await create_queue(settings, ctx)
        try:
            from notices import delivery

            result = await delivery.sweep(ctx)
            await ctx["jobs"].drain()
            return result
        finally:
            await ctx["jobs"].close()
            await redis.aclose()
            await db.close_db()

    result = asyncio.run(run())
    message = (f"中断后以同一防重入编号重发 {result['resent']} 条；结果未知的发送记录 {result['expired']} 条；"
               f"恢复发送中的通知 {result['resumed']} 条；"
               f"启动到期的定时通知 {result['started']} 条")
    print(message)  # noqa: T201


def register(subparsers) -> None:
    orgs = subparsers.add_parser("orgs", help="通知接收机构").add_subparsers(dest="orgs_command", required=True)
    imp = orgs.add_parser("import", help="从 CSV 导入机构（列：name,type,district,business_lines,tags,credit_code）")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_orgs_import)
    notices = subparsers.add_parser("notices", help="定向通知").add_subparsers(dest="notices_command", required=True)
    notices.add_parser("recover", help="恢复中断的通知发送（运行一次清理任务）").set_defaults(func=cmd_notices_recover)
