"""Progress request schemas: ingest events from the business system, lookups and staff filters."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

RECEIPT_PATTERN = r"^[0-9A-Z][0-9A-Z-]{3,31}$"


def normalize_receipt_no(value: object) -> str:
    """Fold full-width digits and dashes (NFKC) so typed receipt numbers match stored ones."""
    if not isinstance(value, str):
        return value  # type: ignore[return-value]
    text = unicodedata.normalize("NFKC", value).strip().upper()
    return text.replace("—", "-").replace("－", "-").replace("–", "-").replace(" ", "")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptMixin(_Strict):
    receipt_no: str = Field(pattern=RECEIPT_PATTERN)

    @field_validator("receipt_no", mode="before")
    @classmethod
    def _norm(cls, value: object) -> object:
        return normalize_receipt_no(value)


class ApplicantIn(_Strict):
    name: str | None = Field(default=None, max_length=80)
    id_number: str = Field(min_length=6, max_length=40)


class CaseCreatedData(ReceiptMixin):
    business_type: str = Field(min_length=1, max_length=64)
    hall: str = Field(min_length=1, max_length=32)
    applicants: list[ApplicantIn] = Field(min_length=1, max_length=50)
    accepted_at: datetime | None = None
    stage: str | None = Field(default=None, max_length=32)
    delivery_method: str | None = Field(default=None, max_length=32)
    tracking_no: str | None = Field(default=None, max_length=64)
    # How the case was filed: online by the citizen, online by an agency/bank/developer for them, at a window.
    channel: Literal["online_self", "online_agent", "hall", "unknown"] = "unknown"


class StageChangedData(ReceiptMixin):
    stage: str = Field(min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=500)
    missing_materials: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50)
    # Electronic certificate (电子证照) issued with this stage: its number and the link to view it.
    e_cert_no: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")
    e_cert_url: str | None = Field(default=None, max_length=512, pattern=r"^https://[^\s]+$")


class DeliveryUpdatedData(ReceiptMixin):
    method: str = Field(min_length=1, max_length=32)
    tracking_no: str | None = Field(default=None, max_length=64)


class _Envelope(_Strict):
    event_id: str = Field(min_length=1, max_length=128)
    occurred_at: datetime
    seq: int = Field(default=0, ge=0, le=2**62)


class CaseCreated(_Envelope):
    type: Literal["case.created"]
    data: CaseCreatedData


class StageChanged(_Envelope):
    type: Literal["case.stage_changed"]
    data: StageChangedData


class DeliveryUpdated(_Envelope):
    type: Literal["case.delivery_updated"]
    data: DeliveryUpdatedData


Event = Annotated[CaseCreated | StageChanged | DeliveryUpdated, Field(discriminator="type")]
EVENT = TypeAdapter(Event)
MAX_BATCH = 500


class LookupQuery(ReceiptMixin):
    id_last6: str = Field(min_length=1, max_length=12)

    @field_validator("id_last6", mode="before")
    @classmethod
    def _norm6(cls, value: object) -> object:
        if isinstance(value, str):
            return unicodedata.normalize("NFKC", value).strip().upper()
        return value


class OverdueQuery(_Strict):
    hall: str | None = Field(default=None, max_length=32)
    business_type: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=200, ge=1, le=1000)
