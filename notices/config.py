"""The notices configuration file: categories, message templates, delivery limits."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FILE = Path(__file__).parent / "data" / "notices.yaml"


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    requires_review: bool = True


class OrgTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template_id: str
    url: str = ""
    # Without a url: the mini-program page the message opens ({id} = the notice), when a mini-program is set.
    page: str = ""
    fields: dict[str, str]


class PublicTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template_id: str
    page: str = ""
    fields: dict[str, str]


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_per_second: float = Field(200, gt=0)
    burst: int = Field(50, ge=1)
    claim_size: int = Field(16, ge=1, le=500)
    senders: int = Field(4, ge=1, le=64)
    batch_size: int = Field(500, ge=1, le=5000)
    lease_seconds: float = Field(60, gt=0)
    max_attempts: int = Field(6, ge=1)
    retry_base_seconds: float = Field(2, gt=0)
    retry_max_seconds: float = Field(300, gt=0)
    # A template send interrupted by a crash is repeated with the same client_msg_id only while its
    # last attempt is younger than this; WeChat dedups for 10 minutes, so keep a margin under 600.
    resend_window_seconds: float = Field(540, gt=0, lt=600)


class NoticesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[Category]
    org_template: OrgTemplate
    public_template: PublicTemplate
    invitation_ttl_hours: int = Field(72, ge=1)
    delivery: DeliveryConfig = DeliveryConfig()

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)


@lru_cache(maxsize=8)
def _load(path: Path, mtime: float) -> NoticesConfig:
    return NoticesConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def load_config(settings) -> NoticesConfig:
    """Return the notices config: DENGJI_HOME/notices.yaml when present, else the shipped default."""
    override = Path(settings.home) / "notices.yaml"
    path = override if override.exists() else DEFAULT_FILE
    return _load(path, path.stat().st_mtime)
