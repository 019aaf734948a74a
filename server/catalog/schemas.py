"""Catalog staff request schemas."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from models import DayKind
from server.booking.schemas import Start


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CalendarQuery(_Strict):
    start: dt.date | None = Field(default=None, alias="from")
    end: dt.date | None = Field(default=None, alias="to")


class Session(_Strict):
    start: Start
    end: Start


class CalendarDayCreate(_Strict):
    date: dt.date
    kind: DayKind
    name: str = Field(min_length=1, max_length=128)
    halls: list[str] = Field(default_factory=list)
    sessions: list[Session] | None = None
