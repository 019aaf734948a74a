"""Migration 0005_operations applies to a database at 0001_initial that holds data (SQLite and PostgreSQL)."""

from __future__ import annotations

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate

from config.settings import Settings
from tests.conftest import requires_postgres, scratch_settings

NOW = "2026-11-20 09:00:00+00:00"
ROWS = [
    ("hall", dict(created_at=NOW, updated_at=NOW, code="center", name="中心大厅", address="2 楼", quota_per_slot=30,
                  hotline_quota=6, saturday_duty=True, saturday_booking_only=True,
                  sessions='{"weekday":[["09:00","12:00"]],"saturday":[["09:00","12:00"]]}', review_mode=False,
                  cancel_release_delay_minutes=0, active=True)),
    ("business_type", dict(created_at=NOW, updated_at=NOW, code="secondhand_transfer", name="二手房转移登记",
                           short_name="二手房过户", handling="optional_online", booking="required", time_limit_days=3,
                           public_notice_days=0, time_limit_text="3 个工作日", fee="{}", materials="[]", notes="[]",
                           aliases="[]", active=True)),
    ("cases", dict(created_at=NOW, updated_at=NOW, receipt_no="2026-1120-000001", business_type="secondhand_transfer",
                   hall="center", stage="accepted", stage_at=NOW, stage_seq=0, missing_materials="[]",
                   accepted_at=NOW, promised_date="2026-11-25")),
    ("booking", dict(created_at=NOW, updated_at=NOW, code="ABCDEFGH", id_hash="h1", name_enc="n", id_number_enc="i",
                     mobile_enc="m", hall_code="center", business_type="secondhand_transfer", date="2026-11-24",
                     start="09:00", end="09:30", slot_at="2026-11-24 01:00:00+00:00",
                     slot_end_at="2026-11-24 01:30:00+00:00", channel="online", status="confirmed", counter_id=1,
                     subscribe=False, day_seq=1)),
]


async def _insert(rows) -> None:
    conn = connections.get("default")
    pg = conn.capabilities.dialect == "postgres"
    for table, row in rows:
        cols = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join((f"${n}" if pg else "?") for n in range(1, len(row) + 1))
        values = list(row.values())
        if pg:  # asyncpg wants typed values
            from datetime import date, datetime
            values = [datetime.fromisoformat(v) if isinstance(v, str) and v.endswith("+00:00") else
                      date.fromisoformat(v) if isinstance(v, str) and len(v) == 10 and v[4] == "-" else v
                      for v in values]
        await conn.execute_query(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', values)


def _forget_statements() -> None:
    # Tortoise caches each model's INSERT by connection name ("default"), whatever the backend: this test
    # opens a database of another kind than the suite's, so the cache is emptied on the way in and out.
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    EXECUTOR_CACHE.clear()


async def _run(settings: Settings) -> None:
    _forget_statements()
    try:
        await _migrate_with_data(settings)
    finally:
        _forget_statements()


async def _migrate_with_data(settings: Settings) -> None:
    await migrate(config=settings.tortoise_config(), target="models.0001_initial")
    await Tortoise.close_connections()
    await Tortoise.init(config=settings.tortoise_config())
    try:
        await _insert(ROWS)
    finally:
        await Tortoise.close_connections()
    await migrate(config=settings.tortoise_config())  # 0005_operations on top of the data
    await Tortoise.close_connections()
    await Tortoise.init(config=settings.tortoise_config())
    try:
        from models import Bank, Booking, BookingStatus, BusinessType, Case, FigureDay, Hall, HallScopePause

        case = await Case.get(receipt_no="2026-1120-000001")
        assert case.channel == "unknown" and case.correction_since is None and case.e_cert_no is None
        assert str(case.promised_date) == "2026-11-25"
        bt = await BusinessType.get(code="secondhand_transfer")
        assert bt.online_schedule == [] and bt.name == "二手房转移登记"
        booking = await Booking.get(code="ABCDEFGH")
        assert booking.status == BookingStatus.CONFIRMED and booking.day_seq == 1 and booking.cancel_reason is None
        # The new status fits the old column and the new tables take rows.
        await Booking.filter(id=booking.id).update(status=BookingStatus.CENTER_CANCELLED, cancel_reason="闭厅")
        assert (await Booking.get(id=booking.id)).status == BookingStatus.CENTER_CANCELLED
        assert (await Hall.get(code="center")).saturday_booking_only is True
        await HallScopePause.create(hall_code="center", business_type="secondhand_transfer", reason="暂停")
        await Bank.create(name="示例银行", online_mortgage=True)
        assert await FigureDay.all().count() == 0
    finally:
        await Tortoise.close_connections()


async def test_operations_migration_on_a_sqlite_database_with_data(tmp_path):
    async with scratch_settings(tmp_path, postgres=False) as settings:
        await _run(settings)


@requires_postgres
async def test_operations_migration_on_a_postgres_database_with_data(tmp_path):
    async with scratch_settings(tmp_path, postgres=True) as settings:
        await _run(settings)


def test_operations_migration_follows_the_chain():
    # Found by its topic, not its number: the lead renumbers migrations when branches merge.
    import importlib
    import pkgutil

    import models.migrations as package

    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__))
    ours = [n for n in names if n.endswith("_operations")]
    assert len(ours) == 1
    deps = importlib.import_module(f"models.migrations.{ours[0]}").Migration.dependencies
    assert deps and all(app == "models" and dep in names for app, dep in deps)
