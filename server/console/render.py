"""Jinja2 rendering for the console: one environment per worker, the base layout's navigation by role."""

from __future__ import annotations

import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Request
from sanic.response import HTTPResponse, html

from server.console.session import allowed

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# (label, url, roles): the base layout lists the entries the signed-in role may open.
NAV = (
    ("大厅工作台", "/console/desk", ("hall_staff",)),
    ("预约审核", "/console/review", ("reviewer",)),
    ("电话预约", "/console/hotline", ("hotline",)),
    ("办件进度", "/console/cases", ("reviewer",)),
    ("通知公告", "/console/notices", ("publisher", "reviewer")),
    ("知识库", "/console/kb", ("publisher",)),
    ("统计报表", "/console/figures", ("reviewer",)),
    ("日历与号源", "/console/calendar", ("admin",)),
    ("人员与审计", "/console/staff", ("admin",)),
)

ROLE_NAMES = {"admin": "管理员", "hall_staff": "大厅窗口", "reviewer": "审核", "hotline": "热线",
              "publisher": "发布"}


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["ROLE_NAMES"] = ROLE_NAMES
    return env


ENV = _env()


def nav_for(principal) -> list[tuple[str, str]]:
    return [(label, url) for label, url, roles in NAV if allowed(principal, roles)]


def render(request: Request, template: str, *, status: int = 200, **context) -> HTTPResponse:
    """Render a page (or an htmx fragment) with the signed-in staff member's layout context."""
    session = getattr(request.ctx, "console", None)
    context.setdefault("errors", {})
    body = ENV.get_template(template).render(
        request=request, session=session, csrf=session.csrf if session else "",
        nav=nav_for(session.principal) if session else [], path=request.path, **context)
    # Server-Timing: the page's server time, shown in the browser's devtools and read by bench/bench_console.py.
    took = (time.perf_counter() - request.started) * 1000 if hasattr(request, "started") else 0.0
    return html(body, status=status, headers={"cache-control": "no-store", "server-timing": f"app;dur={took:.1f}"})


def refuse(request: Request, message: str, *, status: int = 403) -> HTTPResponse:
    return render(request, "refused.html", status=status, message=message)
