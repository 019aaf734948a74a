"""Identity request and response schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)


class FaceVerifyCreate(BaseModel):
    """Start a face verification of the caller's own name and ID number."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    id_number: str = Field(min_length=1, max_length=40)
    mobile: str | None = Field(default=None, max_length=20)


class BindingCreate(BaseModel):
    """Bind after a face verification; the self-declared body of old is refused."""

    model_config = ConfigDict(extra="forbid")
    verify_id: str = Field(min_length=1, max_length=256)


class CounterBindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    binding_code: str = Field(min_length=1, max_length=32)


class BindingCodeCreate(FaceVerifyCreate):
    """Hall staff, after checking the ID card at the counter."""

    hall_code: str | None = Field(default=None, max_length=32)


class OAuthAuthorizeQuery(BaseModel):
    next: str | None = Field(default=None, max_length=512)


class OAuthCallbackQuery(BaseModel):
    # No code: the person refused WeChat's snsapi_userinfo consent page (redirect_uri?state=STATE).
    code: str | None = Field(default=None, max_length=256)
    state: str = Field(default="", max_length=128)


class DevCitizenCreate(FaceVerifyCreate):
    """Development only: a citizen whose binding counts as verified."""


class CitizenRead(BaseModel):
    id: int
    bound: bool
    verification: str | None = None
    name: str | None = None
    id_number: str | None = None
    mobile: str | None = None
    suspended_until: str | None = None
