"""Identity request and response schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)


class BindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    id_number: str = Field(min_length=1, max_length=40)
    mobile: str = Field(min_length=1, max_length=20)


class CitizenRead(BaseModel):
    id: int
    bound: bool
    name: str | None = None
    id_number: str | None = None
    mobile: str | None = None
    suspended_until: str | None = None
