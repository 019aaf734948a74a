"""Migration 0003_queue applied to a database of the previous schema that already holds bookings and cases."""

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as run_migrate

from config.settings import Settings
from server.core import db
from tests.conftest import PG_URL, TEST_DATA_KEY, _create_pg_database, _drop_pg_database, _pg_database_url

BOOKING = ("INSERT INTO booking (code, id_hash, name_enc, id_number_enc, mobile_enc, hall_code, business_type, date, "
           "start, \"end\", slot_at, slot_end_at, channel, status, counter_id, subscribe, created_at, updated_at) "
           "VALUES ('OLD00001', 'h', 'n', 'i', 'm', 'center', 'change', '2026-11-24', '09:00', '09:30', "
           "'2026-11-24 01:00:00+00:00', '2026-11-24 01:30:00+00:00', 'online', 'checked_in', 1, false, "
           "'2026-11-20 01:00:00+00:00', '2026-11-20 01:00:00+00:00')")


async def _check(settings: Settings) -> None:
    config = settings.tortoise_config()
    await run_migrate(config=config, target="models.0001_initial")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    conn = connections.get("default")
    await conn.execute_script(BOOKING)
    await Tortoise.close_connections()
    await db.migrate(settings)  # 0003_queue on top, with the row in place (as `dengji db init` does)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        from models import Booking, QueueTicket

        assert (await Booking.get(code="OLD00001")).status == "checked_in"
        assert await QueueTicket.all().count() == 0
        conn = connections.get("default")
        if settings.is_postgres:
            rows = await conn.execute_query_dict("SELECT indexdef AS d FROM pg_indexes WHERE tablename = 'booking'")
        else:
            rows = await conn.execute_query_dict("SELECT sql AS d FROM sqlite_master WHERE tbl_name = 'booking' "
                                                 "AND type = 'index' AND sql IS NOT NULL")
        assert any("status" in r["d"] and "hall_code" in r["d"] and "date" in r["d"] for r in rows), rows
    finally:
        await Tortoise.close_connections()


async def test_0002_on_sqlite_with_data(tmp_path):
    await _check(Settings(env="test", home=tmp_path, database_url=f"sqlite://{tmp_path}/m.sqlite3",
                          data_key=TEST_DATA_KEY))


@pytest.mark.skipif(not PG_URL, reason="DENGJI_TEST_DATABASE_URL not set: no PostgreSQL server")
async def test_0002_on_postgres_with_data(tmp_path):
    name = f"dengji_m2_{tmp_path.name[-8:].lower()}"
    await _create_pg_database(PG_URL, name)
    try:
        await _check(Settings(env="test", home=tmp_path, database_url=_pg_database_url(PG_URL, name),
                              data_key=TEST_DATA_KEY))
    finally:
        await _drop_pg_database(PG_URL, name)
