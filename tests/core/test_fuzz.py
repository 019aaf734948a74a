"""schemathesis over the whole API document, with a citizen's and an admin's token: zero 500s, and every answer
as the document describes it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.factories import bound_citizen, staff_headers

ST = Path(sys.executable).with_name("st")
pytestmark = pytest.mark.skipif(not ST.exists() and not shutil.which("st"),
                                reason="schemathesis is not installed (pip install -e '.[dev]')")
# Operations that would end the fuzzer's own staff session part-way; they are fuzzed with the citizen's token.
ENDS_OWN_SESSION = r"^/api/staff/(logout|me/password|accounts/\{account_id\}/(sessions|password))$"
MAX_EXAMPLES = os.environ.get("DENGJI_FUZZ_EXAMPLES", "6")


async def _schemathesis(url: str, headers: dict, *extra: str, cwd: Path) -> tuple[int, str]:
    args = [str(ST if ST.exists() else shutil.which("st")), "run", f"{url}/docs/openapi.json",
            "--checks", "not_a_server_error", "--phases", "examples,coverage,fuzzing", "-n", MAX_EXAMPLES,
            "--no-shrink", "--generation-database", "none", "--workers", "1", "--seed", "11",
            "--request-timeout", "20", "--no-color", "--warnings", "off", *extra]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    # Run where schemathesis may leave its cache (.schemathesis/), outside the repository.
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode(errors="replace")


@pytest.fixture
def settings(settings):
    """Knowledge-base edits the fuzzer makes go to a private copy under <home>/bot, never the shipped file."""
    from bot.engine import DEFAULT_DATA_DIR

    shutil.copytree(DEFAULT_DATA_DIR, settings.home / "bot")
    return settings


async def test_no_500_anywhere_with_citizen_and_staff_tokens(live, client, tmp_path):
    before = _repository_changes()
    citizen, _ = await bound_citizen(client)
    admin = await staff_headers(client, role="admin")
    code, out = await _schemathesis(live.url, admin, "--exclude-path-regex", ENDS_OWN_SESSION, cwd=tmp_path)
    assert code == 0, out[-6000:]
    code, out = await _schemathesis(live.url, citizen, cwd=tmp_path)
    assert code == 0, out[-6000:]
    # Every answer the fuzzer got is what the document says: each error code listed for its route and status,
    # each success body valid against the route's response model (the app records any gap it sees).
    assert live.ctx.api_doc_gaps == set(), sorted(live.ctx.api_doc_gaps)
    assert _repository_changes() == before, "the fuzzer changed files of the repository"


def _repository_changes() -> list[str]:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return []
    out = subprocess.run(["git", "status", "--porcelain", "--", "bot/data", "config", "notices/data"], cwd=root,
                         capture_output=True, text=True, check=False).stdout
    return out.splitlines()
