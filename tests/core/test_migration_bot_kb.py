"""The knowledge-base migration upgrades a database of the previous schema that holds data, and the
knowledge base can then be seeded and read from it."""

from __future__ import annotations

import importlib
from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as run_migrate

from config.settings import Settings
from tests.conftest import PG_URL, scratch_settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "models" / "migrations"


def _kb_migration() -> tuple[str, str]:
    """(this migration's name, the one before it), found by what it creates, whatever its number."""
    for path in sorted(MIGRATIONS.glob("0*.py")):
        if "bot_entry" in path.read_text(encoding="utf-8"):
            module = importlib.import_module(f"models.migrations.{path.stem}")
            return path.stem, module.Migration.dependencies[0][1]
    raise AssertionError("no migration creates bot_entry")


async def _upgrade_with_data(settings: Settings) -> None:
    name, previous = _kb_migration()
    config = settings.tortoise_config()
    await run_migrate(config=config, target=f"models.{previous}")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        conn = connections.get("default")
        tables = await _tables(conn, settings)
        assert "bot_miss" in tables and "bot_entry" not in tables  # really the previous schema
        await conn.execute_query(
            "INSERT INTO bot_miss (question, count, last_kind, last_score, first_seen, last_seen) "
            "VALUES ('大厅能停车吗', 4, 'fallback', 0.1, '2026-11-01 10:00:00', '2026-11-02 10:00:00')")
        await conn.execute_query(
            "INSERT INTO bot_feedback (entry_id, helpful, channel, question, created_at) "
            "VALUES ('hotline', true, 'oa', '热线', '2026-11-01 10:00:00')")
    finally:
        await Tortoise.close_connections()

    await run_migrate(config=config)  # to the latest: this migration runs over the data
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        from bot import kb
        from models.bot import BotEntry, BotFeedback, BotMiss

        tables = await _tables(connections.get("default"), settings)
        assert {"bot_entry", "bot_data_file"} <= tables
        miss = await BotMiss.get(question="大厅能停车吗")
        assert (miss.count, miss.last_kind) == (4, "fallback")
        assert await BotFeedback.filter(entry_id="hotline", helpful=True).count() == 1
        # The new tables work: seeding fills them, a second seed adds nothing, the bot's source reads them.
        shipped = Path(__file__).resolve().parents[2] / "bot" / "data"
        added = await kb.seed_from(shipped)
        assert added.added == len(kb.read_entries(shipped)) and (await kb.seed_from(shipped)).added == 0
        source = await kb.load_source(shipped)
        assert [e["id"] for e in source.entries] == [e["id"] for e in kb.read_entries(shipped)]
        assert "synonyms.yaml" in source.files
        assert await BotEntry.filter(entry_id="hotline").exists()
    finally:
        await Tortoise.close_connections()


async def _tables(conn, settings: Settings) -> set[str]:
    if settings.is_postgres:
        rows = await conn.execute_query_dict("SELECT tablename AS name FROM pg_tables WHERE schemaname='public'")
    else:
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
    return {r["name"] for r in rows}


async def test_bot_kb_migration_upgrades_a_database_with_data(tmp_path):
    # On the suite's own backend: Tortoise keeps per-model SQL built for the first backend it wrote to, so one
    # process must not write through the ORM to both (each leg of the suite runs this on its backend).
    async with scratch_settings(tmp_path, postgres=bool(PG_URL)) as settings:
        await _upgrade_with_data(settings)
