"""`db.migrate` builds the indexes and unique constraints the models declare, as `generate_schemas` does.

Tortoise's migrations lose indexes (SQLite table remakes, AddField db_index; server/core/schema_indexes.py);
these tests compare every table of a migrated database with one generated from the models, by columns and
uniqueness (names may differ: generate_schemas puts unique_together inline, the migrations name it).
"""

import uuid

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as run_migrate

from config.settings import Settings
from server.core import db
from server.core.schema_indexes import PG_INDEXES, DuplicateRowsError
from tests.conftest import PG_URL, TEST_DATA_KEY, _create_pg_database, _drop_pg_database, _pg_database_url

BOOKING = ("INSERT INTO booking (code, id_hash, name_enc, id_number_enc, mobile_enc, hall_code, business_type, date, "
           "start, \"end\", slot_at, slot_end_at, channel, status, counter_id, day_seq, subscribe, created_at, "
           "updated_at) VALUES ('{code}', 'h', 'n', 'i', 'm', 'center', 'change', '2026-11-24', '09:00', '09:30', "
           "'2026-11-24 01:00:00+00:00', '2026-11-24 01:30:00+00:00', 'online', 'confirmed', 1, 1, false, "
           "'2026-11-20 01:00:00+00:00', '2026-11-20 01:00:00+00:00')")


async def _index_sets(settings: Settings) -> dict[str, set[tuple[tuple[str, ...], bool]]]:
    """{table: {(columns, unique)}} of every model table, primary keys and partial indexes aside."""
    conn = connections.get("default")
    tables = {m._meta.db_table for app in Tortoise.apps.values() for m in app.values()}
    out: dict[str, set] = {t: set() for t in tables}
    if settings.is_postgres:
        for r in await conn.execute_query_dict(PG_INDEXES):
            if r["tbl"] in out:
                out[r["tbl"]].add((tuple(r["cols"]), r["uniq"]))
        return out
    for table in tables:
        for idx in await conn.execute_query_dict(f'PRAGMA index_list("{table}")'):
            if idx["origin"] == "pk" or idx["partial"]:
                continue
            cols = await conn.execute_query_dict(f'PRAGMA index_info("{idx["name"]}")')
            out[table].add((tuple(c["name"] for c in cols), bool(idx["unique"])))
    return out


async def _indexes_of(settings: Settings, generate: bool = False) -> dict:
    await Tortoise.init(config=settings.tortoise_config())
    try:
        if generate:
            await Tortoise.generate_schemas()
        return await _index_sets(settings)
    finally:
        await Tortoise.close_connections()


def _assert_same(migrated: dict, generated: dict) -> None:
    diff = {t: {"missing": sorted(generated[t] - migrated[t]), "extra": sorted(migrated[t] - generated[t])}
            for t in generated if migrated[t] != generated[t]}
    assert not diff, f"migrated schema differs from the models' indexes: {diff}"
    assert sum(len(s) for s in generated.values()) > 50  # the comparison saw the real schema


def _sqlite(tmp_path, name: str) -> Settings:
    return Settings(env="test", home=tmp_path, database_url=f"sqlite://{tmp_path}/{name}.sqlite3",
                    data_key=TEST_DATA_KEY)


async def test_migrate_gives_sqlite_the_models_indexes(tmp_path):
    migrated, generated = _sqlite(tmp_path, "migrated"), _sqlite(tmp_path, "generated")
    await db.migrate(migrated)
    _assert_same(await _indexes_of(migrated), await _indexes_of(generated, generate=True))
    await db.migrate(migrated)  # a second run changes nothing
    _assert_same(await _indexes_of(migrated), await _indexes_of(generated))


async def test_migrate_gives_postgres_the_models_indexes(tmp_path):
    if not PG_URL:
        pytest.skip("DENGJI_TEST_DATABASE_URL not set: no PostgreSQL server")
    names = [f"dengji_ix_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        await _create_pg_database(PG_URL, name)
    try:
        migrated, generated = (Settings(env="test", home=tmp_path, database_url=_pg_database_url(PG_URL, n),
                                        data_key=TEST_DATA_KEY) for n in names)
        await db.migrate(migrated)
        _assert_same(await _indexes_of(migrated), await _indexes_of(generated, generate=True))
    finally:
        for name in names:
            await _drop_pg_database(PG_URL, name)


async def _plain_tortoise_migrate(settings: Settings) -> None:
    """A database as Tortoise's own migrate left it (what `dengji db init` made before the fix)."""
    await run_migrate(config=settings.tortoise_config())
    await Tortoise.close_connections()


async def _execute(settings: Settings, *sql: str) -> None:
    await Tortoise.init(config=settings.tortoise_config())
    try:
        for statement in sql:
            await connections.get("default").execute_script(statement)
    finally:
        await Tortoise.close_connections()


async def test_existing_sqlite_database_gets_its_lost_indexes_back(tmp_path):
    old, generated = _sqlite(tmp_path, "old"), _sqlite(tmp_path, "generated")
    await _plain_tortoise_migrate(old)
    await _execute(old, BOOKING.format(code="OLD00001"))
    await db.migrate(old)
    _assert_same(await _indexes_of(old), await _indexes_of(generated, generate=True))
    await Tortoise.init(config=old.tortoise_config())
    try:
        from models import Booking

        assert (await Booking.get(code="OLD00001")).day_seq == 1
        with pytest.raises(Exception, match="(?i)unique"):  # the daily limit holds in the database again
            await connections.get("default").execute_script(BOOKING.format(code="OLD00002"))
    finally:
        await Tortoise.close_connections()


async def test_duplicate_rows_stop_a_unique_constraint_with_a_clear_message(tmp_path):
    old = _sqlite(tmp_path, "old")
    await _plain_tortoise_migrate(old)
    # Drop the constraint as the remake would, then break it: two places of one person on one day.
    await _execute(old, 'DROP INDEX IF EXISTS "uid_booking_id_hash_3ce994"',
                   BOOKING.format(code="DUP00001"), BOOKING.format(code="DUP00002"))
    before = await _indexes_of(old)
    assert (("id_hash", "date", "day_seq"), True) not in before["booking"]
    with pytest.raises(DuplicateRowsError, match=r"booking.*\(id_hash, date, day_seq\).*重复"):
        await db.migrate(old)
    assert await _indexes_of(old) == before  # refused before creating anything
