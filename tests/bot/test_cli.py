from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bot.cli import register

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        timeout=60,
        check=True,
    )


def test_ask_prints_answer_text():
    out = _run("城东大厅的地址").stdout
    assert "东城路18号" in out


def test_ask_json_reads_stdin_lines():
    out = _run("--json", stdin="二手房過戶要帶什麼材料\n\n今天天气怎么样\n我要预约\n").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3
    assert rows[0]["entry_id"] == "transfer-secondhand-materials"
    assert rows[0]["kind"] == "answer" and "完税凭证" in rows[0]["answer"]
    assert 0 < rows[0]["score"] <= 1 and rows[0]["candidates"]
    assert rows[1]["kind"] == "fallback" and rows[1]["entry_id"] is None
    assert rows[2]["intent"] == "booking"
    # ensure_ascii=False: Chinese is written as is.
    assert "东城路" not in out and "完税凭证" in out


def test_ask_data_option(data_copy):
    kb = data_copy / "kb.yaml"
    kb.write_text(kb.read_text(encoding="utf-8").replace("东城路18号", "东城路99号"), encoding="utf-8")
    assert "东城路99号" in _run("--data", str(data_copy), "城东大厅的地址").stdout


def test_register_adds_ask_subcommand():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ask", "--json", "--data", "/x", "问题"])
    assert (args.command, args.json, args.data, args.question) == ("ask", True, "/x", ["问题"])
    assert callable(args.func)
