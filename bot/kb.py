"""The knowledge base's storage: rows in the database, seeded from the files in bot/data/.

Every host builds its bot from the same rows (entries in `bot_entry`, the other data files in
`bot_data_file`), so staff edit the knowledge base once, through the API, for all of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tortoise.transactions import in_transaction

from models.bot import BotDataFile, BotEntry, BotSeed

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


@dataclass
class SeedResult:
    """What one seed did: entries added, entries and data files updated, staff edits kept over the files'."""

    added: int = 0
    updated: int = 0
    files: int = 0
    kept: list[str] = field(default_factory=list)


def _dump(e: dict[str, Any]) -> str:
    return json.dumps(e, ensure_ascii=False, sort_keys=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merge(base: dict[str, Any] | None, have: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Three-way merge of one entry: `base` as the last seed wrote it (None: seeded before this was recorded),
    `have` as stored now (perhaps edited by staff), `new` as the file says now.

    Only what the file changed since `base` is applied. Phrasings and keywords the file added are added and
    those it removed are removed; staff's own stay. A field (question, answer, category) both changed keeps
    staff's version (returned flag True); without a base, staff's version of such a field is kept as well."""
    out = dict(have)
    conflict = False
    for f in ("phrasings", "keywords"):
        old = set(base[f]) if base else set()
        gone = old - set(new[f])
        kept = [x for x in have[f] if x not in gone]
        out[f] = kept + [x for x in new[f] if x not in old and x not in kept]
    for f in ("category", "question", "answer"):
        if have[f] == new[f] or (base is not None and new[f] == base[f]):
            continue  # nothing to apply
        if base is not None and have[f] == base[f]:
            out[f] = new[f]
        else:
            conflict = True
    return out, conflict


async def seed_from(data_dir: Path) -> SeedResult:
    """Bring the database up to date with a data directory, keeping staff edits.

    `bot_seed` remembers what the last seed took from each entry and data file. An entry or file the files
    did not change since then is left alone (whatever staff did to it through the API, even a deletion). A
    new entry is added; a changed one is merged (see _merge). The other data files cannot be edited through
    the API, so a changed file replaces the stored copy."""
    entries = read_entries(data_dir)
    result = SeedResult()
    async with in_transaction():
        seeded = {r.name: r for r in await BotSeed.all()}
        rows = {r.entry_id: r for r in await BotEntry.all()}
        position = max((r.position for r in rows.values()), default=-1) + 1
        records: dict[str, str] = {}
        for e in entries:
            key, text = f"entry:{e['id']}", _dump(e)
            last = seeded.get(key)
            if last is not None and last.digest == _digest(text):
                continue  # the file did not change this entry since the last seed
            row = rows.get(e["id"])
            if row is None:
                if last is not None:  # staff deleted it after it was seeded: the deletion stands
                    result.kept.append(e["id"])
                else:
                    await BotEntry.create(entry_id=e["id"], position=position,
                                          **{k: e[k] for k in FIELDS if k != "id"})
                    position += 1
                    result.added += 1
            else:
                have = entry_read(row)
                merged, conflict = _merge(json.loads(last.content) if last else None, have, e)
                if conflict:
                    result.kept.append(e["id"])
                if merged != have:
                    await row.update_from_dict({k: merged[k] for k in FIELDS if k != "id"}).save()
                    result.updated += 1
            records[key] = text
        stored = {f.name: f for f in await BotDataFile.all()}
        for name in DATA_FILES:
            path = data_dir / name
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            key = f"file:{name}"
            last = seeded.get(key)
            if last is not None and last.digest == _digest(text) and name in stored:
                continue
            row = stored.get(name)
            if row is None:
                await BotDataFile.create(name=name, content=text)
                result.files += 1
            elif row.content != text:
                row.content = text
                await row.save(update_fields=["content", "updated_at"])
                result.files += 1
            records[key] = text
        for key, text in records.items():
            if key in seeded:
                await BotSeed.filter(name=key).update(digest=_digest(text), content=text)
            else:
                await BotSeed.create(name=key, digest=_digest(text), content=text)
    return result


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
