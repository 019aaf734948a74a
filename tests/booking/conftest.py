"""Booking test helpers: a pinned clock, unique real-name citizens, and a booking shortcut."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import bound_citizen, login_citizen, make_id_number, make_mobile  # noqa: F401

TZ = ZoneInfo("Asia/Shanghai")
# Monday 23 November 2026, 08:30: an ordinary week (no holidays), the window runs to Sunday 29th.
MONDAY = datetime(2026, 11, 23, 8, 30, tzinfo=TZ)
_seq = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def clock(live):
    """The app's clock, pinned to Monday 08:30 (tests move it with .set/.advance)."""
    live.ctx.clock.set(MONDAY)
    return live.ctx.clock


def unique_id_number() -> str:
    n = next(_seq)
    return make_id_number(birth=f"19{60 + n // 900 % 40:02d}0{1 + n // 30 % 9}{10 + n % 18:02d}", seq=n % 1000)


async def citizen(client: httpx.AsyncClient, *, name: str = "张三", id_number: str | None = None,
                  code: str | None = None) -> tuple[dict[str, str], str]:
    """Log in a fresh citizen and bind a unique real name; return (headers, id number)."""
    return await bound_citizen(client, name=name, id_number=id_number or unique_id_number(), mobile=make_mobile(),
                               code=code)


async def book(client: httpx.AsyncClient, headers: dict, *, hall: str | int = "center",
               business_type: str = "secondhand_transfer", date: str = "2026-11-24", start: str = "09:00",
               **extra) -> httpx.Response:
    body = {"hall": hall, "business_type": business_type, "date": date, "start": start, **extra}
    key = body.pop("idempotency_key", None)
    h = dict(headers) | ({"Idempotency-Key": key} if key else {})
    return await client.post("/api/bookings", json=body, headers=h)


def error_code(res: httpx.Response) -> str:
    error = res.json()["error"]
    # Every refusal speaks to the citizen in Chinese (no Latin word leading it).
    assert re.search(r"[\u4e00-\u9fff]", error["message"]) and not re.match(r"[A-Za-z]", error["message"]), error
    return error["code"]
