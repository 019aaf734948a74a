"""Request and response schemas for organisations, invitations, notices and subscriptions."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from bot.normalize import to_simplified
from models import NoticeAudience, NoticeStatus, OrgType


def clean(text: str) -> str:
    """Fold full-width and Traditional input to the simplified half-width form we store."""
    return " ".join(to_simplified(unicodedata.normalize("NFKC", text)).split())


Text = Annotated[str, AfterValidator(clean)]
Label = Annotated[str, AfterValidator(clean), Field(min_length=1, max_length=32)]


def _unique_labels(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = clean(v)
        if not v or len(v) > 32:
            raise ValueError("标签须为 1–32 个字符")
        if v not in out:
            out.append(v)
    return out


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgCreate(Strict):
    name: Annotated[str, AfterValidator(clean), Field(min_length=2, max_length=64)]
    type: OrgType
    district: Label
    business_lines: list[str] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20)
    credit_code: str | None = None
    suspended: bool = False

    _labels = field_validator("business_lines", "tags")(classmethod(lambda cls, v: _unique_labels(v)))


class OrgUpdate(Strict):
    name: Annotated[str, AfterValidator(clean), Field(min_length=2, max_length=64)] | None = None
    type: OrgType | None = None
    district: Label | None = None
    business_lines: list[str] | None = Field(None, max_length=20)
    tags: list[str] | None = Field(None, max_length=20)
    credit_code: str | None = None
    suspended: bool | None = None

    @field_validator("business_lines", "tags")
    @classmethod
    def _labels(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _unique_labels(v)


class OrgQuery(Strict):
    type: OrgType | None = None
    district: str | None = None
    suspended: bool | None = None


class InvitationCreate(Strict):
    is_admin: bool = False
    ttl_hours: int | None = Field(None, ge=1, le=24 * 30)


class JoinCreate(Strict):
    code: Annotated[str, Field(min_length=6, max_length=64)]


class LeaveCreate(Strict):
    org_id: int


class Attachment(Strict):
    name: Annotated[str, AfterValidator(clean), Field(min_length=1, max_length=64)]
    url: HttpUrl

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: HttpUrl) -> HttpUrl:
        if v.scheme not in ("http", "https"):
            raise ValueError("附件链接须以 http:// 或 https:// 开头")
        return v


class Target(Strict):
    all: bool = False
    types: list[OrgType] = Field(default_factory=list, max_length=10)
    districts: list[Label] = Field(default_factory=list, max_length=50)
    business_lines: list[Label] = Field(default_factory=list, max_length=50)
    tags: list[Label] = Field(default_factory=list, max_length=50)
    org_ids: list[int] = Field(default_factory=list, max_length=1000)
    halls: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]] = Field(
        default_factory=list, max_length=50)


class TargetPreview(Strict):
    audience: NoticeAudience = NoticeAudience.ORGS
    target: Target


class NoticeCreate(Strict):
    title: Annotated[str, AfterValidator(clean), Field(min_length=2, max_length=64)]
    body: Annotated[str, Field(min_length=2, max_length=5000)]
    category: Annotated[str, Field(min_length=1, max_length=32)]
    audience: NoticeAudience = NoticeAudience.ORGS
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    target: Target

    @field_validator("body")
    @classmethod
    def _body(cls, v: str) -> str:
        return unicodedata.normalize("NFKC", v).strip()


class NoticeUpdate(Strict):
    title: Annotated[str, AfterValidator(clean), Field(min_length=2, max_length=64)] | None = None
    body: Annotated[str, Field(min_length=2, max_length=5000)] | None = None
    category: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    attachments: list[Attachment] | None = Field(None, max_length=10)
    target: Target | None = None


class NoticeSubmit(Strict):
    scheduled_at: datetime | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("定时发送时间须带时区，例如 2024-03-21T09:00:00+08:00")
        return v


class NoticeReview(Strict):
    decision: Literal["approve", "reject"]
    comment: Annotated[str, Field(max_length=255)] | None = None

    @model_validator(mode="after")
    def _reason(self) -> NoticeReview:
        if self.decision == "reject" and not (self.comment or "").strip():
            raise ValueError("驳回时须填写意见")
        return self


class NoticeQuery(Strict):
    status: NoticeStatus | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class SubscriptionCreate(Strict):
    hall_codes: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1, max_length=20)


class InboxQuery(Strict):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)
