"""Start-up checks of `dengji serve` / `dengji worker`: fail fast with one line that says what to do.

Run in the command's own process before any worker starts, each with a short timeout: a server that is
down, a database that does not exist or has no tables, or a wrong password stop the command with one
Chinese line and a non-zero exit, instead of workers that start "healthy" and answer 500, or hang.
"""

from __future__ import annotations

import asyncio
import sqlite3
from urllib.parse import urlsplit

from config.settings import ConfigError, Settings

# A table every migrated schema has: without it the database was never initialised.
SCHEMA_TABLE = "hall"


class StartupError(RuntimeError):
    """A check failed; the message is the one line to print."""


def _where(url: str, default_port: int) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port, (parts.path or "/").lstrip("/")


async def check_database(settings: Settings, *, schema: bool = True) -> None:
    """Connect to the configured database and check its schema exists."""
    if not settings.is_postgres:
        if not schema:
            return
        path = settings.database_url.split("://", 1)[1]
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2) as conn:
                found = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                     (SCHEMA_TABLE,)).fetchone()
        except sqlite3.Error:
            found = None
        if not found:
            raise StartupError(f"数据库 {path} 尚未建表：请先运行 dengji db init（样例数据：dengji db seed）")
        return
    import asyncpg

    host, port, name = _where(settings.database_url, 5432)
    # The query string holds Tortoise's pool options (maxsize=...), which asyncpg would send as server settings.
    dsn = settings.database_url.split("?", 1)[0].replace("postgres://", "postgresql://", 1).replace(
        "asyncpg://", "postgresql://", 1)
    timeout = settings.db_connect_timeout_seconds
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn, timeout=timeout), timeout + 1)
    except asyncpg.InvalidCatalogNameError:
        raise StartupError(f"PostgreSQL 上没有数据库 {name}：请先创建（例如 createdb -h {host} -p {port} {name}），"
                           "再运行 dengji db init") from None
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        raise StartupError(f"PostgreSQL（{host}:{port}）拒绝登录：请检查 DENGJI_DATABASE_URL 中的用户名和密码"
                           ) from None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StartupError(f"无法连接 PostgreSQL（{host}:{port}，{type(exc).__name__}）：请确认数据库服务已启动，"
                           "并检查 DENGJI_DATABASE_URL 的主机和端口") from None
    if not schema:
        conn.terminate()
        return
    try:
        found = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", SCHEMA_TABLE, timeout=timeout)
    finally:
        conn.terminate()
    if not found:
        raise StartupError(f"数据库 {name} 尚未建表：请先运行 dengji db init（样例数据：dengji db seed）")


async def check_redis(settings: Settings) -> None:
    """PING the configured Redis (embedded mode needs none)."""
    if not settings.redis_url:
        return
    import redis.asyncio as aioredis
    from redis.exceptions import AuthenticationError, RedisError, ResponseError

    host, port, _ = _where(settings.redis_url, 6379)
    timeout = max(1.0, settings.redis_timeout_seconds)
    client = aioredis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        await asyncio.wait_for(client.ping(), timeout + 1)
    except (AuthenticationError, ResponseError):
        raise StartupError(f"Redis（{host}:{port}）拒绝访问：请检查 DENGJI_REDIS_URL 中的密码") from None
    except (RedisError, OSError, TimeoutError) as exc:
        raise StartupError(f"无法连接 Redis（{host}:{port}，{type(exc).__name__}）：请确认 Redis 已启动，"
                           "并检查 DENGJI_REDIS_URL") from None
    finally:
        try:
            await asyncio.wait_for(client.aclose(), 1)
        except Exception:  # noqa: S110 - the check's verdict is already decided
            pass


def check_settings(settings: Settings) -> None:
    """Resolve what settings compute lazily (the data key), so its error shows now, not in a worker."""
    try:
        settings.master_key  # noqa: B018
    except ConfigError as exc:
        raise StartupError(f"配置错误：{exc}") from None


def run(settings: Settings, *, database: bool = True, redis: bool = True, schema: bool = True) -> None:
    """Run every check; raise StartupError with the first failure's line."""
    check_settings(settings)

    async def both() -> None:
        if database:
            await check_database(settings, schema=schema)
        if redis:
            await check_redis(settings)

    asyncio.run(both())
