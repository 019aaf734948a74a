"""Tortoise ORM lifecycle: open once per worker, migrate, and close."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionContext, TransactionContextPooled
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connections
from tortoise.exceptions import DBConnectionError

from config.settings import Settings

log = logging.getLogger("dengji.db")

# A database outage as a caller sees it: the connection is gone, refused, timed out or the server is
# shutting down. Mapped to a 503 in server/core/errors.py.
UNAVAILABLE = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError,
               asyncpg.OperatorInterventionError, asyncpg.CannotConnectNowError, asyncpg.QueryCanceledError,
               DBConnectionError, ConnectionError, TimeoutError, OSError)
# A connection found dead before anything ran on it: safe to try again on a fresh one. (A pooled
# connection whose server was terminated can be handed out before asyncpg has read the end of its stream;
# it then fails with one of these, InternalClientError when the server's farewell error is half read.)
DEAD_CONNECTION = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                   asyncpg.AdminShutdownError, ConnectionResetError, BrokenPipeError)


class PooledConnection(asyncpg.Connection):
    """asyncpg connection that skips the session reset on pool release.

    The default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) is a second round trip for every
    query made outside a transaction. We keep no session state: no LISTEN, no SET, no session-level advisory
    locks, no cursors held across releases; open transactions are still rolled back by asyncpg itself.
    """

    def get_reset_query(self) -> str:
        return ""


class SafeTransactionContext(TransactionContextPooled):
    """Tortoise's pooled transaction context, made safe when BEGIN fails.

    Tortoise (1.1) sets the task's connection context variable to the transaction *before* sending
    BEGIN; when BEGIN fails (a connection the server terminated) `__aexit__` never runs, so the variable
    keeps pointing at a transaction whose connection went back to the pool. Sanic serves every request of
    a keep-alive connection in one task, so all later requests on it failed ("connection has been released
    back to the pool") until the client reconnected. Here a failed BEGIN undoes both steps; when it failed
    on a dead pooled connection (nothing ran yet) it is tried once more on a fresh one.
    """

    __slots__ = ()

    async def __aenter__(self):
        try:
            return await super().__aenter__()
        except DEAD_CONNECTION:
            await self._undo()
        except BaseException:
            await self._undo()
            raise
        log.info("transaction BEGIN met a dead pooled connection; retrying on a fresh one")
        try:
            return await super().__aenter__()
        except BaseException:
            await self._undo()
            raise

    async def _undo(self) -> None:
        token = getattr(self, "token", None)
        if token is not None:
            get_connections().reset(token)
            self.token = None
        conn, self.client._connection = self.client._connection, None
        pool = self.client._parent._pool
        if conn is not None and pool is not None:
            try:
                await pool.release(conn)
            except Exception:  # a broken connection: asyncpg discards it
                conn.terminate()


class AsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client with `SafeTransactionContext` for every `in_transaction()`."""

    def _in_transaction(self) -> TransactionContext:
        return SafeTransactionContext(TransactionWrapper(self), self._pool_init_lock)


# Tortoise loads a connection's client class from its engine module: this module is that engine.
client_class = AsyncpgClient


def orm_config(settings: Settings) -> dict:
    """Return the Tortoise config, with the lean pooled connection class on PostgreSQL."""
    config = settings.tortoise_config()
    if settings.is_postgres:
        conn = expand_db_url(settings.database_url)
        conn["engine"] = __name__
        credentials = conn["credentials"]
        credentials["connection_class"] = PooledConnection
        # Every statement and every new connection gives up in time (asyncpg raises TimeoutError); the
        # server cancels a statement that outlives the client's wait.
        credentials["command_timeout"] = settings.db_timeout_seconds
        credentials["timeout"] = settings.db_connect_timeout_seconds
        credentials.setdefault("server_settings", {})["statement_timeout"] = str(
            int(settings.db_timeout_seconds * 1000))
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


async def close_db(timeout: float = 3.0) -> None:
    """Close the pool; connections still busy after `timeout` seconds are cut (a stop never hangs)."""
    try:
        await asyncio.wait_for(Tortoise.close_connections(), timeout)
    except (TimeoutError, *UNAVAILABLE):
        log.warning("database pool did not close in %.0f s; its connections were cut", timeout)
        for conn in connections.all():
            pool = getattr(conn, "_pool", None)
            if pool is not None:
                pool.terminate()


async def migrate(settings: Settings) -> tuple[list[str], list[str]]:
    """Apply every pending schema migration; return (migrations applied before, migrations applied now)."""
    from tortoise.migrations.api.migrate import migrate as run_migrate
    from tortoise.migrations.recorder import MigrationRecorder

    if settings.database_url.startswith("sqlite://"):
        settings.home.mkdir(parents=True, exist_ok=True)
    plan: list[str] = []
    before: list[str] = []

    async def report(connection_name, steps, fake, dry_run) -> None:
        recorder = MigrationRecorder(connections.get(connection_name))
        try:
            before.extend(str(key) for key in await recorder.applied_migrations())
        except Exception:  # no migrations table yet: a new database
            pass
        plan.extend(step.migration.name for step in steps if not step.backward)

    try:
        await run_migrate(config=settings.tortoise_config(), reporter=report)
        # Tortoise's migrations lose indexes (SQLite table remakes, AddField db_index): put them back.
        from server.core.schema_indexes import restore_indexes

        await restore_indexes(connections.get("default"), settings.is_postgres, announce=bool(before))
    finally:
        await Tortoise.close_connections()
    return before, plan


async def ping(timeout: float = 1.0) -> bool:
    conn = connections.get("default")
    await asyncio.wait_for(conn.execute_query("SELECT 1"), timeout)
    return True
