"""The knowledge-base file (kb.yaml) as staff edit it: read, validate, write atomically.

The engine only reads the file; edits made here take effect for answering after a reload.
Comments inside the entry list are not kept when the file is rewritten (the header is).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .engine import DataError, load_entries

KB_FILE = "kb.yaml"
FIELDS = ("id", "category", "question", "phrasings", "keywords", "answer")


class _Dumper(yaml.SafeDumper):
    """Multi-line answers as literal blocks, so the file stays readable for the center."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_entries(data_dir: Path) -> list[dict[str, Any]]:
    """Return the entries of kb.yaml as plain dicts in file order."""
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


def _header(path: Path) -> str:
    lines = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                lines.append(line)
            else:
                break
    except FileNotFoundError:
        pass
    return "\n".join(lines).rstrip() + "\n\n" if lines else ""


def write_entries(data_dir: Path, entries: list[dict[str, Any]]) -> None:
    """Validate the entries as the engine would, then replace kb.yaml atomically."""
    path = data_dir / KB_FILE
    body = yaml.dump({"entries": [clean(e) for e in entries]}, Dumper=_Dumper, allow_unicode=True,
                     sort_keys=False, width=1000)
    fd, tmp = tempfile.mkstemp(prefix=".kb-", suffix=".yaml", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_header(path) + body)
        load_entries(Path(tmp))  # the engine must be able to load what we write
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
