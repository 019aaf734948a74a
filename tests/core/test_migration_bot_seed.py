"""The seed-record migration upgrades a database whose knowledge base was seeded before it, and `dengji db seed`
then brings that database up to date with edited data files without losing staff edits."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import yaml
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as run_migrate

from config.settings import Settings
from tests.conftest import PG_URL, scratch_settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "models" / "migrations"
SHIPPED = Path(__file__).resolve().parents[2] / "bot" / "data"


def _seed_migration() -> tuple[str, str]:
    for path in sorted(MIGRATIONS.glob("0*.py")):
        if "'bot_seed'" in path.read_text(encoding="utf-8"):
            module = importlib.import_module(f"models.migrations.{path.stem}")
            return path.stem, module.Migration.dependencies[0][1]
    raise AssertionError("no migration creates bot_seed")


def _edit_kb(data: Path, change) -> None:
    path = data / "kb.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for e in raw["entries"]:
        change(e)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def _run(settings: Settings, data: Path) -> None:
    _, previous = _seed_migration()
    config = settings.tortoise_config()
    await run_migrate(config=config, target=f"models.{previous}")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:  # a knowledge base seeded by the previous version (no record of the seed), one entry edited by staff
        conn = connections.get("default")
        await conn.execute_query(
            "INSERT INTO bot_entry (entry_id, position, category, question, phrasings, keywords, answer, updated_at) "
            "VALUES ('hotline', 0, '中心与大厅', '咨询热线电话是多少？', '[\"热线号码给一个\"]', '[]', "
            "'咨询热线：96510（工作人员改过）', '2026-11-01 10:00:00')")
        await conn.execute_query(
            "INSERT INTO bot_data_file (name, content, updated_at) VALUES ('stopwords.txt', '的\n', "
            "'2026-11-01 10:00:00')")
    finally:
        await Tortoise.close_connections()

    await run_migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        from bot import kb
        from bot.engine import Bot
        from models.bot import BotDataFile, BotEntry, BotSeed

        shipped = {e["id"]: e for e in kb.read_entries(SHIPPED)}
        _edit_kb(data, lambda e: e["phrasings"].append("热线是几号") if e["id"] == "hotline" else None)
        r = await kb.seed_from(data)
        assert r.added == len(shipped) - 1 and r.updated == 1 and r.kept == ["hotline"]
        hotline = await BotEntry.get(entry_id="hotline")
        # Staff's answer and phrasing stay; the file's phrasings (the new one too) are added.
        assert hotline.answer == "咨询热线：96510（工作人员改过）"
        assert hotline.phrasings == ["热线号码给一个", *shipped["hotline"]["phrasings"], "热线是几号"]
        stop = await BotDataFile.get(name="stopwords.txt")
        assert stop.content == (data / "stopwords.txt").read_text(encoding="utf-8")  # not API-editable: replaced
        assert await BotSeed.filter(name="entry:hall-east").exists()

        # Staff edit through the API's tables; a seed of unchanged files changes nothing.
        east = await BotEntry.get(entry_id="hall-east")
        east.answer = "城东大厅：东城路18号（临时搬到隔壁）"
        east.phrasings = [*east.phrasings, "东城那个厅搬了吗"]
        await east.save()
        await BotEntry.filter(entry_id="hall-west").delete()
        r = await kb.seed_from(data)
        assert (r.added, r.updated, r.files, r.kept) == (0, 0, 0, [])
        assert not await BotEntry.filter(entry_id="hall-west").exists()

        # The files change: what they changed is applied, staff's edits hold.
        def change(e):
            if e["id"] == "hall-east":
                e["answer"] = "城东大厅：东城路18号（文件新写法）"
                e["phrasings"] = [p for p in e["phrasings"] if p != shipped["hall-east"]["phrasings"][0]]
                e["phrasings"].append("东城大厅的门牌号")
            elif e["id"] == "hall-north":
                e["answer"] = "城北大厅：北站街9号，地铁北站C口。"
            elif e["id"] == "hall-west":
                e["phrasings"].append("西苑那个厅")
        _edit_kb(data, change)
        with (data / "synonyms.yaml").open("a", encoding="utf-8") as f:
            f.write("咨询热线: [热线号码是啥]\n")
        r = await kb.seed_from(data)
        assert r.added == 0 and r.updated == 2 and r.files == 1 and sorted(r.kept) == ["hall-east", "hall-west"]
        east = await BotEntry.get(entry_id="hall-east")
        assert east.answer == "城东大厅：东城路18号（临时搬到隔壁）"  # both changed it: staff's stays
        assert shipped["hall-east"]["phrasings"][0] not in east.phrasings
        assert east.phrasings[-2:] == ["东城那个厅搬了吗", "东城大厅的门牌号"]
        assert (await BotEntry.get(entry_id="hall-north")).answer == "城北大厅：北站街9号，地铁北站C口。"
        assert not await BotEntry.filter(entry_id="hall-west").exists()  # staff deleted it: stays deleted
        assert "热线号码是啥" in (await BotDataFile.get(name="synonyms.yaml")).content
        seeded = await BotSeed.get(name="entry:hall-north")
        assert json.loads(seeded.content)["answer"] == "城北大厅：北站街9号，地铁北站C口。"

        bot = Bot(data, source=await kb.load_source(data))
        assert bot.answer("热线是几号").entry_id == "hotline"
        assert bot.answer("东城大厅的门牌号").entry_id == "hall-east"
    finally:
        await Tortoise.close_connections()


async def test_seed_record_migration_and_seed_merge(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SHIPPED, data)
    async with scratch_settings(tmp_path, postgres=bool(PG_URL)) as settings:
        await _run(settings, data)
