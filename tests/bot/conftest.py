from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine import DEFAULT_DATA_DIR, Bot

# The shared policy folder sits beside the repository folder.
DEV_QUESTIONS = Path(__file__).resolve().parents[3] / "shared/policy/dev_questions.jsonl"


def load_dev_questions() -> list[dict]:
    if not DEV_QUESTIONS.exists():
        return []
    lines = DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def bot() -> Bot:
    return Bot()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped data directory that a test may edit."""
    dst = tmp_path / "data"
    dst.mkdir()
    for f in DEFAULT_DATA_DIR.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst
