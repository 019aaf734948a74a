"""Figures (admin, reviewer as managers): bookings, check-ins, no-shows, cancellations and walk-ins per day,
for one hall or the whole center, as ECharts line + bar, CSV and Excel (.xlsx, openpyxl).

Issue 12 adds the operations figures (business volume, online rate): add their series to SERIES."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, timedelta

from openpyxl import Workbook
from openpyxl.styles import Font
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from sanic import Blueprint, Request
from sanic.response import raw

from server.booking import flows, service
from server.booking.staff_views import _scope as scope_hall
from server.console.forms import FormError, parse
from server.console.render import refuse, render
from server.console.session import page
from server.core.errors import AppError

bp = Blueprint("console_figures", url_prefix="/console/figures")
ROLES = ("reviewer",)
MAX_DAYS = 366
# (key, Chinese name, chart type)
SERIES = (("booked", "预约", "line"), ("checked_in", "签到", "line"), ("no_show", "爽约", "bar"),
          ("cancelled", "取消", "bar"), ("walk_ins", "免预约", "bar"))


class FiguresRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hall: str | None = Field(default=None, max_length=32)
    start: date
    end: date

    @model_validator(mode="after")
    def _order(self) -> FiguresRange:
        # value_error with a `reason`: the one error handler shows that reason (server/core/errors.py).
        if self.end < self.start:
            raise PydanticCustomError("value_error", "{reason}", {"reason": "结束日期不能早于开始日期"})
        if (self.end - self.start).days >= MAX_DAYS:
            raise PydanticCustomError("value_error", "{reason}", {"reason": f"日期范围不能超过 {MAX_DAYS} 天"})
        return self


async def _query(request: Request, args: dict) -> tuple[FiguresRange, list[dict], str]:
    """Validate the range (errors by field, the range rule's on `end`) and read the figures."""
    try:
        query = parse(FiguresRange, args)
    except FormError as exc:
        raise FormError({(k or "end"): v for k, v in exc.errors.items()}) from exc
    catalog, _ = await flows.context(request.app)
    hall_code = scope_hall(request, query.hall)
    hall_name = catalog.hall(hall_code).name if hall_code else "全中心"
    rows = await service.figures_by_day(hall_code=hall_code, start=query.start, end=query.end)
    return query, rows, hall_name


async def _args(request: Request) -> dict:
    """The query's arguments; the last two weeks by default."""
    _, now = await flows.context(request.app)
    args = {k: v[0] for k, v in request.args.items() if v and v[0]}
    args.setdefault("start", (now.date() - timedelta(days=13)).isoformat())
    args.setdefault("end", now.date().isoformat())
    return args


@bp.get("/")
@page(*ROLES)
async def index(request: Request):
    catalog, _ = await flows.context(request.app)
    halls = [h for h in catalog.halls.values() if h.active]
    args = await _args(request)
    try:
        _, rows, hall_name = await _query(request, args)
    except FormError as exc:
        return render(request, "figures.html", status=422, errors=exc.errors, form=args, halls=halls, rows=[])
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    chart = {"days": [r["date"][5:] for r in rows],
             "series": [{"name": name, "type": kind, "data": [r[key] for r in rows]} for key, name, kind in SERIES]}
    totals = {key: sum(r[key] for r in rows) for key, _, _ in SERIES}
    return render(request, "figures.html", form=args, halls=halls, rows=rows, chart=chart, totals=totals,
                  hall_name=hall_name, SERIES=SERIES, qs=request.query_string)


def _table(rows: list[dict]) -> list[list]:
    return [["日期", *(name for _, name, _ in SERIES)], *([r["date"], *(r[k] for k, _, _ in SERIES)] for r in rows)]


def _xlsx(title: str, table: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "统计"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    for row in table:
        ws.append(row)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 13
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@bp.get("/export/<fmt:csv|xlsx>")
@page(*ROLES)
async def export(request: Request, fmt: str):
    try:
        query, rows, hall_name = await _query(request, await _args(request))
    except FormError as exc:
        return refuse(request, next(iter(exc.errors.values())), status=422)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    table = _table(rows)
    name = f"figures-{query.hall or 'all'}-{query.start}-{query.end}.{fmt}"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerows(table)
        # BOM so Excel opens the Chinese headers correctly, like the notices report.
        return raw("\ufeff".encode() + buf.getvalue().encode(), content_type="text/csv; charset=utf-8",
                   headers=headers)
    body = await asyncio.to_thread(_xlsx, f"{hall_name} {query.start} 至 {query.end}", table)
    return raw(body, headers=headers,
               content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
