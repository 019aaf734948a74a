"""The `dengji` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import secrets
import sys

# Domains add their own sub-commands through `register(subparsers)` in these modules.
CLI_MODULES = ("bot.cli", "server.progress.cli", "server.wechat.cli", "notices.cli")
# Modules with `async def seed(settings) -> str` loaded by `dengji db seed`, in order.
SEED_MODULES = ("server.catalog.seed", "bot.service")


def _settings():
    from config.settings import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        sys.exit(f"配置错误：{exc}")


def cmd_serve(args: argparse.Namespace) -> None:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    if args.host:
        os.environ["DENGJI_HOST"] = args.host
    if args.port:
        os.environ["DENGJI_PORT"] = str(args.port)
    settings = _settings()
    workers = args.workers or settings.workers
    if settings.embedded_redis and workers > 1:
        sys.exit("内嵌 Redis 仅支持单个进程（--workers 1）；多进程请配置 DENGJI_REDIS_URL")
    from server.app import create_app

    loader = AppLoader(factory=create_app)
    app = loader.load()
    single = workers == 1 and not args.with_manager
    app.prepare(host=settings.host, port=settings.port, workers=workers, access_log=False,
                single_process=single, motd=False)
    if single:
        # One worker needs no manager process: start-up imports everything once, not twice.
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)


async def _with_db(settings, coro_fn):
    from server.core import db

    await db.open_db(settings)
    try:
        return await coro_fn()
    finally:
        await db.close_db()


def cmd_db_init(args: argparse.Namespace) -> None:
    from server.core import db

    settings = _settings()
    asyncio.run(db.migrate(settings))
    print("数据库结构已是最新")


def cmd_db_seed(args: argparse.Namespace) -> None:
    settings = _settings()

    async def run():
        for name in SEED_MODULES:
            print(await importlib.import_module(name).seed(settings))
        print(await _ensure_admin())

    asyncio.run(_with_db(settings, run))


async def _ensure_admin() -> str:
    from models import StaffRole, StaffUser
    from server.staff import service

    if await StaffUser.exists(role=StaffRole.ADMIN):
        return "管理员账号已存在"
    password = os.environ.get("DENGJI_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    await service.create(username="admin", password=password, display_name="系统管理员", role=StaffRole.ADMIN)
    return f"已创建管理员账号 admin，初始密码：{password}（请登录后尽快修改）"


def cmd_makemigrations(args: argparse.Namespace) -> None:
    from tortoise.cli.cli import run_cli_async

    os.environ.setdefault("DENGJI_ENV", "development")
    sys.exit(asyncio.run(run_cli_async(["-c", "config.tortoise_conf.TORTOISE_ORM", "makemigrations",
                                        *(["--name", args.name] if args.name else [])])))


def cmd_staff_create(args: argparse.Namespace) -> None:
    from models import StaffRole
    from server.staff import service

    settings = _settings()
    password = args.password or secrets.token_urlsafe(12)

    async def run():
        await service.create(username=args.username, password=password, display_name=args.name or args.username,
                             role=StaffRole(args.role), hall_code=args.hall)

    asyncio.run(_with_db(settings, run))
    print(f"已创建工作人员账号 {args.username}（{args.role}），密码：{password}")


def cmd_worker(args: argparse.Namespace) -> None:
    from arq.worker import run_worker

    from server.worker import worker_settings

    settings = _settings()
    if not settings.redis_url:
        sys.exit("arq 工作进程需要 Redis：请配置 DENGJI_REDIS_URL（内嵌模式下任务在服务进程内运行）")
    run_worker(worker_settings(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dengji", description="不动产登记中心服务")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="启动 HTTP 服务")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--with-manager", action="store_true",
                       help="单进程时也启动 Sanic 管理进程（崩溃自动重启）")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="数据库").add_subparsers(dest="db_command", required=True)
    db.add_parser("init", help="创建或升级数据库结构").set_defaults(func=cmd_db_init)
    db.add_parser("seed", help="导入大厅、业务事项、日历等样例数据").set_defaults(func=cmd_db_seed)
    mk = db.add_parser("makemigrations", help="根据模型变化生成迁移（开发用）")
    mk.add_argument("--name")
    mk.set_defaults(func=cmd_makemigrations)

    staff = sub.add_parser("staff", help="工作人员账号").add_subparsers(dest="staff_command", required=True)
    create = staff.add_parser("create", help="创建工作人员账号")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=["admin", "hall_staff", "reviewer", "hotline", "publisher"])
    create.add_argument("--name")
    create.add_argument("--hall")
    create.add_argument("--password")
    create.set_defaults(func=cmd_staff_create)

    sub.add_parser("worker", help="运行 arq 后台任务进程").set_defaults(func=cmd_worker)

    for name in CLI_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
