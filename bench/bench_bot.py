"""Chatbot throughput and latency on one core.

    .venv/bin/python bench/bench_bot.py [-n 20000] [--cold]

Questions: the published dev questions plus the harder phrasings from
tests/bot/test_phrasings.py, cycled until N questions are answered.
Every question is answered from scratch: the bot's reply cache (exact repeats of a message) is
emptied before each one; a separate line gives the cost of a repeat served from that cache.
--cold also clears the normalisation cache before every question (worst case: every message is
new text).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.engine import Bot  # noqa: E402
from bot.normalize import normalize  # noqa: E402
from tests.bot.test_phrasings import FAQ, OUT_OF_DOMAIN  # noqa: E402

DEV = REPO.parent / "shared/policy/dev_questions.jsonl"


def questions() -> list[str]:
    qs = []
    if DEV.exists():
        qs += [json.loads(line)["q"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    qs += [q for q, _, _ in FAQ] + OUT_OF_DOMAIN
    return qs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000, help="questions to answer")
    ap.add_argument("--cold", action="store_true", help="clear the normalisation cache per question")
    args = ap.parse_args()

    t = time.perf_counter()
    bot = Bot()
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    bot.reload()
    reload_s = time.perf_counter() - t

    qs = questions()
    for q in qs:  # warm-up
        bot.answer(q)
    lat = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for i in range(args.n):
        q = qs[i % len(qs)]
        if args.cold:
            normalize.cache_clear()
        bot._index.answers.clear()
        s = time.perf_counter()
        bot.answer(q)
        lat.append(time.perf_counter() - s)
    total = time.perf_counter() - t0
    # CPU seconds this process spent: on a shared machine the wall clock also counts the slices other processes
    # took from us, which is load, not our cost.
    cpu = time.process_time() - cpu0
    lat.sort()
    c0 = time.perf_counter()
    for i in range(args.n):  # repeats: served from the reply cache
        bot.answer(qs[i % len(qs)])
    cached = args.n / (time.perf_counter() - c0)

    # Baseline in the same run: plain jieba segmentation of the same questions (the cheapest thing a
    # jieba bot must do), so the figure survives a noisy machine as a ratio.
    seg = bot._index.tk.lcut
    for q in qs:
        seg(q)
    b0 = time.perf_counter()
    for i in range(args.n):
        seg(qs[i % len(qs)])
    base = args.n / (time.perf_counter() - b0)
    p = lambda x: lat[min(len(lat) - 1, int(len(lat) * x))] * 1000  # noqa: E731

    print("| metric | value |\n|---|---|")
    print(f"| questions | {args.n} ({len(qs)} distinct{', cold cache' if args.cold else ''}) |")
    print(f"| throughput | {args.n / total:,.0f} questions/s |")
    print(f"| throughput per CPU second (process time) | {args.n / cpu:,.0f} questions/s |")
    # On a shared machine the mean carries other processes' time slices; the median answer does not.
    print(f"| throughput from the median answer (1 / p50) | {1 / lat[len(lat) // 2]:,.0f} questions/s |")
    print(f"| repeated questions (reply cache) | {cached:,.0f} questions/s |")
    print(f"| baseline: bare jieba lcut | {base:,.0f} questions/s |")
    print(f"| ratio bot / bare jieba | {args.n / total / base:.2f} |")
    print(f"| latency p50 | {p(0.50):.3f} ms |")
    print(f"| latency p99 | {p(0.99):.3f} ms |")
    print(f"| latency mean | {statistics.fmean(lat) * 1000:.3f} ms |")
    print(f"| Bot() construction | {build_s:.2f} s |")
    print(f"| Bot.reload() | {reload_s:.2f} s |")


if __name__ == "__main__":
    main()
