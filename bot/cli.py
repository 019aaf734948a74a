"""`dengji ask`: query the chatbot from the command line.

dengji ask "二手房过户要带什么材料"
dengji ask --json < questions.txt      # one JSON object per line
python -m bot.cli ask ...              # same, without the dengji entry point
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .engine import Bot


def _run_ask(args: argparse.Namespace) -> int:
    bot = Bot(args.data)

    def emit(q: str) -> None:
        r = bot.answer(q)
        if args.json:
            d: dict[str, Any] = {"question": q, "answer": r.text, **r.to_dict()}
            del d["text"]
            print(json.dumps(d, ensure_ascii=False), flush=False)
        else:
            print(r.text)

    if args.question:
        emit(" ".join(args.question))
    else:
        for line in sys.stdin:
            line = line.strip()
            if line:
                emit(line)
    sys.stdout.flush()
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ask", help="向智能问答提问（不带问题时从标准输入逐行读取）")
    p.add_argument("question", nargs="*", help="问题；省略时每行一个问题从标准输入读取")
    p.add_argument("--json", action="store_true", help="每个问题输出一行 JSON")
    p.add_argument("--data", default=None, help="知识库数据目录（默认 bot/data）")
    p.set_defaults(func=_run_ask)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dengji")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
