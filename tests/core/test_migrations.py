"""Schema migrations stay in step with the models and build a working schema from nothing."""

import uuid

from tortoise import Tortoise, connections
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from config.settings import Settings
from server.core import db
from tests.conftest import PG_URL, TEST_DATA_KEY, _create_pg_database, _drop_pg_database, _pg_database_url


async def test_no_model_change_lacks_a_migration(tmp_path):
    config = Settings(env="test", home=tmp_path, data_key=TEST_DATA_KEY).tortoise_config()
    async with tortoise_cli_context(config) as ctx:
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    assert [w.name for w in writers] == [], "models changed without a migration: run `dengji db makemigrations`"


async def _tables_after_migrate(settings: Settings) -> set[str]:
    await db.migrate(settings)
    await Tortoise.init(config=settings.tortoise_config())
    try:
        conn = connections.get("default")
        if settings.is_postgres:
            rows = await conn.execute_query_dict("SELECT tablename AS name FROM pg_tables WHERE schemaname='public'")
        else:
            rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
        expected = {m._meta.db_table for app in Tortoise.apps.values() for m in app.values()}
    finally:
        await Tortoise.close_connections()
    tables = {r["name"] for r in rows}
    assert expected <= tables, f"missing tables: {expected - tables}"
    return tables


async def test_migrate_builds_every_table_on_sqlite(tmp_path):
    settings = Settings(env="test", home=tmp_path, database_url=f"sqlite://{tmp_path}/m.sqlite3",
                        data_key=TEST_DATA_KEY)
    await _tables_after_migrate(settings)
    await _tables_after_migrate(settings)  # a second run is a no-op


async def test_migrate_builds_every_table_on_postgres(tmp_path):
    import pytest

    if not PG_URL:
        pytest.skip("DENGJI_TEST_DATABASE_URL not set: no PostgreSQL server")
    name = f"dengji_m_{uuid.uuid4().hex[:8]}"
    await _create_pg_database(PG_URL, name)
    try:
        settings = Settings(env="test", home=tmp_path, database_url=_pg_database_url(PG_URL, name),
                            data_key=TEST_DATA_KEY)
        await _tables_after_migrate(settings)
    finally:
        await _drop_pg_database(PG_URL, name)
