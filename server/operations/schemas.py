"""Staff request schemas of the operations domain."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.catalog.schemas import Session

Code = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClosureCreate(_Strict):
    date: dt.date
    end_date: dt.date | None = None
    halls: list[str] = Field(default_factory=list, max_length=50)
    sessions: list[Session] | None = Field(default=None, max_length=10)
    reason: str = Field(min_length=2, max_length=120)


class ExtendedHours(_Strict):
    kind: Literal["late", "early"]
    start: str = Field(pattern=r"^\d{1,2}:\d{2}$")
    end: str = Field(pattern=r"^\d{1,2}:\d{2}$")
    start_date: dt.date | None = Field(default=None, alias="from")
    until: dt.date | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end, "from": self.start_date,
                "until": self.until}


class HoursUpdate(_Strict):
    weekday: list[Session] | None = Field(default=None, max_length=6)
    saturday: list[Session] | None = Field(default=None, max_length=6)
    saturday_duty: bool | None = None
    saturday_booking_only: bool | None = None
    extended: list[ExtendedHours] | None = Field(default=None, max_length=6)

    def changes(self) -> dict:
        out: dict = {}
        for key in ("weekday", "saturday"):
            value = getattr(self, key)
            if value is not None:
                out[key] = [s.model_dump() for s in value]
        for key in ("saturday_duty", "saturday_booking_only"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.extended is not None:
            out["extended"] = [e.as_dict() for e in self.extended]
        return out


class ScopePause(_Strict):
    reason: str = Field(min_length=2, max_length=200)


class FiguresQuery(_Strict):
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    hall: str | None = Field(default=None, max_length=32)
    by: Literal["day", "week", "month"] = "day"
    format: Literal["json", "csv", "xlsx"] = "json"
