"""Tortoise ORM lifecycle: open once per worker, migrate, and close."""

from __future__ import annotations

import logging

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url

from config.settings import Settings

log = logging.getLogger("dengji.db")


class PooledConnection(asyncpg.Connection):
    """asyncpg connection that skips the session reset on pool release.

    The default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) is a second round trip for every
    query made outside a transaction. We keep no session state: no LISTEN, no SET, no session-level advisory
    locks, no cursors held across releases; open transactions are still rolled back by asyncpg itself.
    """

    def get_reset_query(self) -> str:
        return ""


def orm_config(settings: Settings) -> dict:
    """Return the Tortoise config, with the lean pooled connection class on PostgreSQL."""
    config = settings.tortoise_config()
    if settings.is_postgres:
        conn = expand_db_url(settings.database_url)
        conn["credentials"]["connection_class"] = PooledConnection
        config["connections"]["default"] = conn
    return config


async def open_db(settings: Settings) -> None:
    """Open the connection pool for this process (SQLite directory created on demand)."""
    if settings.database_url.startswith("sqlite://"):
        settings.home.mkdir(parents=True, exist_ok=True)
    # The global fallback lets request tasks see the context opened in a server listener.
    await Tortoise.init(config=orm_config(settings), _enable_global_fallback=True)
    if settings.database_url.startswith("sqlite://"):
        conn = connections.get("default")
        # WAL lets readers proceed during a write; busy_timeout queues writers instead of failing.
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")


async def close_db() -> None:
    await Tortoise.close_connections()


async def migrate(settings: Settings) -> None:
    """Apply every pending schema migration."""
    from tortoise.migrations.api.migrate import migrate as run_migrate

    if settings.database_url.startswith("sqlite://"):
        settings.home.mkdir(parents=True, exist_ok=True)
    await run_migrate(config=settings.tortoise_config())
    await Tortoise.close_connections()


async def ping() -> bool:
    conn = connections.get("default")
    await conn.execute_query("SELECT 1")
    return True
