"""The knowledge base's storage: rows in the database, seeded from the files in bot/data/.

Every host builds its bot from the same rows (entries in `bot_entry`, the other data files in
`bot_data_file`), so staff edit the knowledge base once, through the API, for all of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from tortoise.transactions import in_transaction

from models.bot import BotDataFile, BotEntry

from .engine import DATA_FILES, DataError, KbSource

KB_FILE = "kb.yaml"
FIELDS = ("id", "category", "question", "phrasings", "keywords", "answer")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_entries(data_dir: Path) -> list[dict[str, Any]]:
    """Return the entries of a data directory's kb.yaml as plain dicts in file order."""
    path = data_dir / KB_FILE
    try:
        # libyaml when installed: four times faster than the pure-Python loader (the console lists entries).
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    except FileNotFoundError as exc:
        raise DataError(f"missing data file: {path}") from exc
    raw = data.get("entries") if isinstance(data, dict) else None
    return [clean(e) for e in raw or [] if isinstance(e, dict)]


def clean(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(e.get("id") or "").strip(),
        "category": str(e.get("category") or ""),
        "question": str(e.get("question") or "").strip(),
        "phrasings": [str(p) for p in e.get("phrasings") or []],
        "keywords": [str(k) for k in e.get("keywords") or []],
        "answer": str(e.get("answer") or "").strip(),
    }


def entry_read(row: BotEntry) -> dict[str, Any]:
    return {"id": row.entry_id, "category": row.category, "question": row.question,
            "phrasings": list(row.phrasings or []), "keywords": list(row.keywords or []), "answer": row.answer}


async def is_seeded() -> bool:
    return await BotEntry.exists()


async def seed_from(data_dir: Path) -> int:
    """Insert the entries and data files of a directory that the database lacks; return entries added.

    Rows already there are kept: they may carry staff edits."""
    entries = read_entries(data_dir)
    async with in_transaction():
        have = set(await BotEntry.all().values_list("entry_id", flat=True))
        start = await BotEntry.all().count()
        new = [BotEntry(entry_id=e["id"], position=start + i, **{k: e[k] for k in FIELDS if k != "id"})
               for i, e in enumerate(x for x in entries if x["id"] not in have)]
        if new:
            await BotEntry.bulk_create(new)
        files = set(await BotDataFile.all().values_list("name", flat=True))
        for name in DATA_FILES:
            path = data_dir / name
            if name not in files and path.is_file():
                await BotDataFile.create(name=name, content=path.read_text(encoding="utf-8"))
    return len(new)


async def load_source(data_dir: Path) -> KbSource:
    """Read the whole knowledge base from the database (a data directory's files until it is seeded)."""
    rows = await BotEntry.all().order_by("position", "id")
    if not rows:
        return await asyncio.to_thread(KbSource.from_dir, data_dir)
    files = {f.name: f.content for f in await BotDataFile.all()}
    return KbSource(entries=tuple(entry_read(r) for r in rows), files=files)


async def get_all() -> list[dict[str, Any]]:
    return [entry_read(r) for r in await BotEntry.all().order_by("position", "id")]


async def get(entry_id: str) -> BotEntry | None:
    return await BotEntry.get_or_none(entry_id=entry_id)
