"""`dengji figures --from YYYY-MM-DD --to YYYY-MM-DD [--hall CODE] [--by day|week|month] [--rebuild]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import unicodedata
from datetime import date


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render(rows: list[list]) -> str:
    """Align a table for the terminal (CJK characters count double)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def cmd_figures(args: argparse.Namespace) -> None:
    from server.cli import _settings, _with_db

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError:
        sys.exit("日期格式应为 YYYY-MM-DD")

    async def run():
        from server.catalog import service as catalog_service
        from server.core.errors import AppError
        from server.operations import figures

        catalog = await catalog_service.load()
        today = catalog.now().date()
        try:
            if args.rebuild:
                await figures.ensure_rolled(catalog, start, end, today, rebuild=True)
            return await figures.get(catalog=catalog, start=start, end=end, hall=args.hall, by=args.by, today=today)
        except AppError as exc:
            sys.exit(exc.message)

    table = asyncio.run(_with_db(_settings(), run))
    from server.operations import figures

    print(render(figures.flat_rows(table)))  # noqa: T201
    rates = table["online_rates"]
    print(f"\n网办率（目标 {rates['target']:.0%}）")  # noqa: T201
    rows = [["月份", "网办件数", "办件总数", "网办率", "是否达标"]]
    for month in rates["by_month"]:
        o = month["overall"]
        rows.append([month["month"], o["online"], o["total"], "" if o["rate"] is None else f"{o['rate']:.1%}",
                     "" if o["meets_target"] is None else ("达标" if o["meets_target"] else "未达标")])
    print(render(rows))  # noqa: T201


def register(subparsers) -> None:
    p = subparsers.add_parser("figures", help="运营数据：预约量、签到、爽约、免预约、接待人数、业务量、网办率")
    p.add_argument("--from", dest="start", required=True)
    p.add_argument("--to", dest="end", required=True)
    p.add_argument("--hall")
    p.add_argument("--by", choices=["day", "week", "month"], default="day")
    p.add_argument("--rebuild", action="store_true", help="按原始数据重新汇总该区间（更正历史数据后使用）")
    p.set_defaults(func=cmd_figures)
