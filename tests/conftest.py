"""Test harness: a real Sanic server per test over HTTP, a real database and Redis, a fake WeChat API.

Backends are chosen by environment variables (see README):
- DENGJI_TEST_DATABASE_URL: a PostgreSQL server URL; the suite creates its own database on it and drops
  it afterwards. Unset: a SQLite file.
- DENGJI_TEST_REDIS_URL: a Redis server; every test uses its own key prefix. Unset: the embedded stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from sanic import Sanic
from tortoise import Tortoise, connections

from config.settings import Settings
from server.app import create_app
from tests.fakewechat import FakeWeChat

PG_URL = os.environ.get("DENGJI_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("DENGJI_TEST_REDIS_URL", "")
TEST_DATA_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
WECHAT_TOKEN = "dengji-test-token"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"

requires_postgres = pytest.mark.skipif(not PG_URL, reason="DENGJI_TEST_DATABASE_URL not set: no PostgreSQL server")
requires_redis = pytest.mark.skipif(not REDIS_URL, reason="DENGJI_TEST_REDIS_URL not set: no Redis server")


def _pg_database_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def _create_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_settings(tmp_path: Path, *, postgres: bool, prefix: str = "dengji_m"):
    """Settings on a database of their own: a SQLite file, or a throw-away PostgreSQL database dropped afterwards."""
    if not postgres:
        yield Settings(env="test", home=tmp_path, database_url=f"sqlite://{tmp_path}/m.sqlite3", data_key=TEST_DATA_KEY)
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await _create_pg_database(PG_URL, name)
    try:
        yield Settings(env="test", home=tmp_path, database_url=_pg_database_url(PG_URL, name), data_key=TEST_DATA_KEY)
    finally:
        await _drop_pg_database(PG_URL, name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """One database for the whole run, its schema generated from the models once."""
    if PG_URL:
        name = f"dengji_t_{uuid.uuid4().hex[:10]}"
        asyncio.run(_create_pg_database(PG_URL, name))
        url = _pg_database_url(PG_URL, name)
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db')}/test.sqlite3"

    async def schema() -> None:
        settings = Settings(env="test", database_url=url, data_key=TEST_DATA_KEY)
        await Tortoise.init(config=settings.tortoise_config())
        await Tortoise.generate_schemas()
        await Tortoise.close_connections()

    asyncio.run(schema())
    yield url
    if PG_URL:
        asyncio.run(_drop_pg_database(PG_URL, name))


@pytest.fixture(scope="session")
def fake_wechat():
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture
def settings(database_url, fake_wechat, tmp_path) -> Settings:
    fake_wechat.reset()
    return Settings(
        env="test", home=tmp_path, database_url=database_url, redis_url=REDIS_URL,
        redis_prefix=f"t{uuid.uuid4().hex[:8]}:", data_key=TEST_DATA_KEY,
        wechat_api_base=fake_wechat.base_url, wechat_appid=fake_wechat.appid,
        wechat_secret=fake_wechat.secret, mp_appid=fake_wechat.mp_appid, mp_secret=fake_wechat.mp_secret,
        wechat_token=WECHAT_TOKEN, wechat_aes_key=WECHAT_AES_KEY, log_json=True, log_level="WARNING",
    )


async def truncate_all() -> None:
    conn = connections.get("default")
    # Quoted: some table names (e.g. "cases" once was "case") may be reserved words.
    tables = [f'"{m._meta.db_table}"' for app in Tortoise.apps.values() for m in app.values()]
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("".join(f"DELETE FROM {t};" for t in tables))


@contextlib.contextmanager
def count_queries():
    """Record every SQL statement the default connection runs inside the block (the list of statements)."""
    conn = connections.get("default")
    seen: list[str] = []

    def counting(name: str):
        original = getattr(conn, name)

        async def run(query, *args, **kwargs):
            seen.append(str(query))
            return await original(query, *args, **kwargs)

        return original, run

    patched = {name: counting(name) for name in ("execute_query", "execute_query_dict", "execute_many")}
    for name, (_, run) in patched.items():
        setattr(conn, name, run)
    try:
        yield seen
    finally:
        for name, (original, _) in patched.items():
            setattr(conn, name, original)


class LiveApp:
    """A running app: its Sanic object, base URL and an HTTP client bound to it."""

    def __init__(self, app: Sanic, url: str, client: httpx.AsyncClient) -> None:
        self.app, self.url, self.http = app, url, client

    @property
    def ctx(self):
        return self.app.ctx


async def start_app(settings: Settings, *, seed: bool = True) -> tuple[LiveApp, object]:
    Sanic.test_mode = True  # lets every test build its own app
    app = create_app(settings, name=f"dengji_{uuid.uuid4().hex[:8]}")
    # Bind the socket ourselves: Sanic reads port 0 as "default" (8000), which parallel runs would share.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app.config.MOTD = False
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False, backlog=1024)
    try:
        await server.startup()
        await server.before_start()
        await server.after_start()
    except BaseException:
        # A failed start must not leave Tortoise's global context behind for the next test.
        server.close()
        await Tortoise.close_connections()
        Sanic._app_registry.pop(app.name, None)
        raise
    await truncate_all()
    if seed:
        from tests.factories import seed_sample_data

        await seed_sample_data(settings)
        # A worker task may have read the catalog while the tables were being emptied: start from the seed.
        from server.catalog import service as catalog_service

        await catalog_service.changed(app)
    # Start-up tasks (the booking window's counter-id loader) may have read the catalog or counter ids while the
    # tables were being reset and seeded; seeding does not announce a change, so forget what they read.
    app.ctx.__dict__.pop("_catalog", None)
    avail = app.ctx.__dict__.get("_avail_cache")
    if avail is not None:
        avail.counter_ids.clear()
        avail.clear()
    url = f"http://127.0.0.1:{port}"
    client = httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=500))
    return LiveApp(app, url, client), server


async def stop_app(live: LiveApp, server) -> None:
    await live.http.aclose()
    if hasattr(live.ctx, "jobs"):
        await live.ctx.jobs.drain(timeout=5)
    await server.before_stop()
    server.close()
    await server.wait_closed()
    await server.after_stop()
    redis_url, prefix = live.ctx.settings.redis_url, live.ctx.settings.redis_prefix
    # Sanic keeps every app in a class-level registry; drop ours so its resources (the bot's dictionary) are freed.
    Sanic._app_registry.pop(live.app.name, None)
    live.app.ctx.__dict__.clear()
    if redis_url:
        import redis.asyncio as aioredis

        r = aioredis.from_url(redis_url)
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
        await r.aclose()


@pytest.fixture
async def live(settings):
    """A fresh app per test, served over real HTTP on a free port, with sample data seeded."""
    app, server = await start_app(settings)
    try:
        yield app
    finally:
        await stop_app(app, server)


@pytest.fixture
async def client(live) -> httpx.AsyncClient:
    return live.http
