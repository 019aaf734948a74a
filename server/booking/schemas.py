"""Booking request schemas (responses are built by service.read, always masked)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from models import BookingStatus


def _nfkc(value: object) -> object:
    # Full-width digits and colons from Chinese IMEs ("０９：３０") mean the same as ASCII.
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_nfkc)]
HallRef = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else _nfkc(v))]
Start = Annotated[str, BeforeValidator(_nfkc), Field(pattern=r"^\d{1,2}:\d{2}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotsQuery(_Strict):
    date: dt.date


class BookingCreate(_Strict):
    hall: HallRef = Field(min_length=1, max_length=32)
    business_type: Text = Field(min_length=1, max_length=64)
    date: dt.date
    start: Start
    agent_credit_code: Text | None = Field(default=None, max_length=40)
    subscribe: bool = False


class BookingReschedule(_Strict):
    hall: HallRef | None = Field(default=None, max_length=32)
    business_type: Text | None = Field(default=None, max_length=64)
    date: dt.date
    start: Start
    agent_credit_code: Text | None = Field(default=None, max_length=40)
    subscribe: bool | None = None


class BookingReminder(_Strict):
    subscribe: bool


class HotlineBookingCreate(BookingCreate):
    name: str = Field(min_length=1, max_length=40)
    id_number: str = Field(min_length=1, max_length=40)
    mobile: str = Field(min_length=1, max_length=20)


class StaffBookingQuery(_Strict):
    hall: str | None = Field(default=None, max_length=32)
    date: dt.date | None = None
    status: BookingStatus | None = None
    id_number: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=200, ge=1, le=1000)


class ReviewConfirm(_Strict):
    reason: str | None = Field(default=None, max_length=200)


class ReviewDecline(_Strict):
    reason: str = Field(min_length=1, max_length=200)


class CheckinCreate(_Strict):
    hall: HallRef = Field(min_length=1, max_length=32)
    code: Text | None = Field(default=None, max_length=16)
    id_number: str | None = Field(default=None, max_length=40)


class WalkInCreate(_Strict):
    hall: HallRef = Field(min_length=1, max_length=32)
    business_type: Text = Field(min_length=1, max_length=64)
    channel: Text | None = Field(default=None, max_length=64)


class FiguresQuery(_Strict):
    date: dt.date | None = None


class HallUpdate(_Strict):
    review_mode: bool | None = None
    quota_per_slot: int | None = Field(default=None, ge=0, le=1000)
    hotline_quota: int | None = Field(default=None, ge=0, le=1000)
    cancel_release_delay_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)


class SlotQuotaUpdate(_Strict):
    quota: int = Field(ge=0, le=1000)
    hotline_quota: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _split(self) -> SlotQuotaUpdate:
        if self.hotline_quota > self.quota:
            raise ValueError("热线预留号数不能大于该时段总号数")
        return self
