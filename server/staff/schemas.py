"""Staff request schemas."""

from pydantic import BaseModel, ConfigDict, Field

from models import StaffRole


class StaffLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=256)
    display_name: str = Field(min_length=1, max_length=64)
    role: StaffRole
    hall_code: str | None = Field(default=None, max_length=32)


class AuditQuery(BaseModel):
    limit: int = Field(default=100, ge=1, le=1000)
    target_type: str | None = Field(default=None, max_length=32)


class StaffUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    role: StaffRole | None = None
    hall_code: str | None = Field(default=None, max_length=32)
    active: bool | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_password: str = Field(min_length=8, max_length=256)
