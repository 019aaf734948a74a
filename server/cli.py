"""The `dengji` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import secrets
import sys

# Domains add their own sub-commands through `register(subparsers)` in these modules.
CLI_MODULES = ("bot.cli", "server.progress.cli", "server.wechat.cli", "notices.cli", "server.identity.cli",
               "server.operations.cli")
# Modules with `async def seed(settings) -> str` loaded by `dengji db seed`, in order.
SEED_MODULES = ("server.catalog.seed", "server.operations.seed", "bot.service")


def _settings():
    """Load settings, or exit with one line naming the variable that is wrong (never a traceback)."""
    from pydantic import ValidationError

    from config.settings import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        sys.exit(f"配置错误：{exc}")
    except ValidationError as exc:
        from server.core.errors import _PYDANTIC_MESSAGES

        first = exc.errors(include_url=False)[0]
        name = "DENGJI_" + "_".join(str(p) for p in first["loc"]).upper()
        reason = _PYDANTIC_MESSAGES.get(first["type"], first["msg"])
        sys.exit(f"配置错误：{name} 的值无效（{reason}），请修改该环境变量或 config/defaults.toml")


def _preflight(settings, **checks) -> None:
    """Check configuration, database and Redis before starting; exit with one line when one fails."""
    from server.core import preflight

    try:
        preflight.run(settings, **checks)
    except preflight.StartupError as exc:
        sys.exit(str(exc))


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
    _preflight(settings)
    from server.app import create_app
    from server.core.manager import adopt

    loader = AppLoader(factory=create_app)
    app = loader.load()
    single = workers == 1 and not args.with_manager
    # The manager restarts a dead worker (logged) and signals only its own processes (server/core/manager.py).
    app.main_process_ready(adopt)
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
    _preflight(settings, redis=False, schema=False)
    before, applied = asyncio.run(db.migrate(settings))
    if not applied:
        print("数据库结构已是最新")
    elif not before:
        print(f"已创建数据库结构（应用了 {len(applied)} 个迁移：{'、'.join(applied)}）")
    else:
        print(f"已升级数据库结构（应用了 {len(applied)} 个迁移：{'、'.join(applied)}）")


def cmd_db_seed(args: argparse.Namespace) -> None:
    settings = _settings()
    if args.demo and settings.env == "production":
        sys.exit("--demo 仅用于开发环境：生产环境不能导入示例办件和预约")

    async def run():
        for name in SEED_MODULES:
            print(await importlib.import_module(name).seed(settings))
        print(await _ensure_admin())
        if args.demo:
            from server.operations import demo

            print(await demo.seed(settings))
        # Running services reload the catalog within a second: a file change needs no restart.
        from server.catalog.service import bump_version

        await bump_version(settings)

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
    _preflight(settings)
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
    seed = db.add_parser("seed", help="导入 config/data 中的大厅、业务事项、日历、联网银行等数据（修改数据文件后运行）")
    seed.add_argument("--demo", action="store_true", help="另外导入几百个示例办件和几周的预约、签到（仅开发环境）")
    seed.set_defaults(func=cmd_db_seed)
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
