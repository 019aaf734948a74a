from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.engine import DEFAULT_DATA_DIR, Bot

RELATIVE = Path("shared/policy/dev_questions.jsonl")


def _git(*args: str) -> Path | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None


def _repository_roots() -> list[Path]:
    """The repository root (git's top level, or the folder above tests/ outside git), then, for a linked
    worktree, the main checkout's root: the shared folder sits beside the repository, as in CI."""
    top = _git("rev-parse", "--show-toplevel") or Path(__file__).resolve().parents[2]
    roots = [top]
    common = _git("rev-parse", "--path-format=absolute", "--git-common-dir")
    if common is not None and common.name == ".git" and common.parent != top:
        roots.append(common.parent)
    return roots


REPOSITORY_ROOTS = _repository_roots()
# ../shared/policy/dev_questions.jsonl from the repository root; the first that exists.
DEV_QUESTIONS = next((r.parent / RELATIVE for r in REPOSITORY_ROOTS if (r.parent / RELATIVE).exists()),
                     REPOSITORY_ROOTS[0].parent / RELATIVE)


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
