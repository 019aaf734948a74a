"""Figures (admin, reviewer as managers): the operations figures of `server/operations/figures.py` (the same
table as GET /api/staff/figures) for one hall or the whole center, by day, week or month: business volume,
visitors, bookings, check-ins, no-shows, walk-ins as an ECharts chart, the online rate per business type and
overall against the target, and the same CSV / Excel (.xlsx) exports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sanic import Blueprint, Request
from sanic.response import raw

from server.booking import flows
from server.booking.staff_views import _scope as scope_hall
from server.console.forms import FormError, parse
from server.console.render import refuse, render
from server.console.session import page
from server.core.errors import AppError
from server.operations import figures
from server.operations.schemas import FiguresQuery

bp = Blueprint("console_figures", url_prefix="/console/figures")
ROLES = ("reviewer",)
# (key, Chinese name, chart type); the online rate is drawn in % on its own axis.
SERIES = (("business_volume", "业务量", "bar"), ("visitors", "接待人数", "bar"), ("bookings", "预约量", "line"),
          ("check_ins", "签到数", "line"), ("no_shows", "爽约数", "line"), ("walk_ins", "免预约", "line"))
BY_NAMES = {"day": "按日", "week": "按周", "month": "按月"}
FORM_NAMES = {"from": "start", "to": "end", "": "end"}


async def _table(request: Request, args: dict) -> tuple[dict, str]:
    """Validate the form with the API's query schema (errors by the form's field names) and read the table."""
    try:
        query = parse(FiguresQuery, {"from": args.get("start"), "to": args.get("end"), "hall": args.get("hall"),
                                     "by": args.get("by", "day")})
    except FormError as exc:
        raise FormError({FORM_NAMES.get(k, k): v for k, v in exc.errors.items()}) from exc
    catalog, now = await flows.context(request.app)
    hall_code = scope_hall(request, query.hall)
    try:
        table = await figures.get(catalog=catalog, start=query.start, end=query.end, hall=hall_code, by=query.by,
                                  today=now.date())
    except AppError as exc:
        if exc.code == "INVALID_DATE_RANGE":
            raise FormError({"end": exc.message}) from exc
        raise
    return table, catalog.hall(hall_code).name if hall_code else "全中心"


async def _args(request: Request) -> dict:
    """The query's arguments; the last two weeks by day by default."""
    _, now = await flows.context(request.app)
    args = {k: v[0] for k, v in request.args.items() if v and v[0]}
    args.setdefault("start", (now.date() - timedelta(days=13)).isoformat())
    args.setdefault("end", now.date().isoformat())
    args.setdefault("by", "day")
    return args


@bp.get("/")
@page(*ROLES)
async def index(request: Request):
    catalog, _ = await flows.context(request.app)
    halls = [h for h in catalog.halls.values() if h.active]
    args = await _args(request)
    common = {"form": args, "halls": halls, "SERIES": SERIES, "BY_NAMES": BY_NAMES}
    try:
        table, hall_name = await _table(request, args)
    except FormError as exc:
        return render(request, "figures.html", status=422, errors=exc.errors, rows=[], **common)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    shown = table["hall"] or "all"
    rows = [r for r in table["rows"] if r["hall"] == shown]  # the chart: the hall asked for, or the center
    chart = {"periods": [r["period"] for r in rows],
             "series": [{"name": name, "type": kind, "data": [r[key] for r in rows]} for key, name, kind in SERIES]
             + [{"name": "网办率", "type": "line", "axis": 1,
                 "data": [None if r["online_rate"] is None else round(r["online_rate"] * 100, 1) for r in rows]}]}
    return render(request, "figures.html", rows=rows, table=table, total=table["total"], chart=chart,
                  hall_name=hall_name, rates=table["online_rates"], qs=request.query_string, **common)


@bp.get("/export/<fmt:csv|xlsx>")
@page(*ROLES)
async def export(request: Request, fmt: str):
    """The exports of GET /api/staff/figures?format=csv|xlsx, from the same table."""
    args = await _args(request)
    try:
        table, _ = await _table(request, args)
    except FormError as exc:
        return refuse(request, next(iter(exc.errors.values())), status=422)
    except AppError as exc:
        return refuse(request, exc.message, status=exc.status)
    name = f"figures-{table['hall'] or 'all'}-{table['from']}-{table['to']}.{fmt}"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        # BOM so Excel opens the Chinese headers correctly, like the API's export.
        return raw(figures.to_csv(table).encode("utf-8-sig"), content_type="text/csv; charset=utf-8",
                   headers=headers)
    body = await asyncio.to_thread(figures.to_xlsx, table)
    return raw(body, headers=headers,
               content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
