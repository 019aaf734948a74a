"""Typed settings: defaults from defaults.toml, overridden by DENGJI_* environment variables."""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_DIR = Path(__file__).resolve().parent
PROJECT_DIR = CONFIG_DIR.parent
DEFAULTS_FILE = CONFIG_DIR / "defaults.toml"


GENERATE_KEY = "python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration cannot work."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DENGJI_", extra="ignore", toml_file=DEFAULTS_FILE)

    env: Literal["development", "test", "production"] = "development"
    home: Path = PROJECT_DIR / "var"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    database_url: str = "sqlite://{home}/dengji.sqlite3"
    redis_url: str = ""
    redis_prefix: str = "dengji:"
    jobs_backend: Literal["auto", "inline", "arq"] = "auto"
    # Every Redis and database call gives up after this long, well inside WeChat's 5-second reply window.
    redis_timeout_seconds: float = 0.5
    db_timeout_seconds: float = 2.5
    db_connect_timeout_seconds: float = 2.0

    # Behind a reverse proxy (deploy/nginx): how Sanic finds the client's address (request.remote_addr).
    # proxies_count = the number of proxies in front that append to X-Forwarded-For (1 for our nginx site);
    # real_ip_header = a header the proxy sets to the client address instead; forwarded_secret = the
    # `secret=` of an RFC 7239 Forwarded header. All empty = direct connections (the default).
    proxies_count: int = 0
    real_ip_header: str = ""
    forwarded_secret: SecretStr = SecretStr("")

    # Master key for personal data (base64, 32 bytes). Encryption and lookup-hash keys derive from it.
    data_key: SecretStr | None = None

    wechat_api_base: str = "https://api.weixin.qq.com/"
    wechat_timeout_seconds: float = 5.0
    # Public account (公众号)
    wechat_appid: str = ""
    wechat_secret: SecretStr = SecretStr("")
    wechat_token: SecretStr = SecretStr("")
    wechat_aes_key: SecretStr = SecretStr("")
    # Mini-program (小程序)
    mp_appid: str = ""
    mp_secret: SecretStr = SecretStr("")
    # Public-account web authorisation (网页授权): where WeChat sends the user.
    wechat_oauth_base: str = "https://open.weixin.qq.com/"
    # Where citizens reach this service (e.g. https://dengji.example.gov.cn), for the absolute links WeChat needs:
    # the web-authorisation redirect_uri (empty = the host of the request) and the menu's VIEW buttons.
    public_base_url: str = ""

    citizen_session_ttl_seconds: int = 7 * 86400
    staff_session_ttl_seconds: int = 12 * 3600
    # Staff console: signed out after this long without a page request; call-screen tokens last this long.
    console_idle_seconds: int = 30 * 60
    console_screen_token_days: int = 365
    # Staff login throttle: failed tries counted per username and per address within the window; past the
    # limit that username (or address) is locked until the window ends or an admin lifts the lock.
    staff_login_failures_per_user: int = 5
    staff_login_failures_per_ip: int = 30
    staff_login_window_seconds: int = 900

    # /metrics and /docs: open in development and test; in production reachable only with this token
    # (`Authorization: Bearer …` or `X-Ops-Token`) or from these addresses/networks (comma-separated CIDRs).
    ops_token: SecretStr = SecretStr("")
    ops_allow: str = ""

    seed_dir: Path = CONFIG_DIR / "data"
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @field_validator("ops_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ConfigError(f"DENGJI_OPS_ALLOW 中的“{part}”不是地址或网段（例：127.0.0.1,10.0.0.0/8）") from exc
        return value

    @field_validator("wechat_api_base")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.home = Path(self.home).expanduser().resolve()
        self.database_url = self.database_url.replace("{home}", str(self.home))
        if self.env == "production":
            missing = [
                name
                for name, value in (
                    ("DENGJI_DATA_KEY", self.data_key),
                    ("DENGJI_DATABASE_URL", self.database_url if "sqlite" not in self.database_url else ""),
                    ("DENGJI_REDIS_URL", self.redis_url),
                    # The README's public-account and mini-program credentials: without them every WeChat
                    # call and every message signature check would fail at run time instead.
                    ("DENGJI_WECHAT_APPID", self.wechat_appid),
                    ("DENGJI_WECHAT_SECRET", self.wechat_secret.get_secret_value()),
                    ("DENGJI_WECHAT_TOKEN", self.wechat_token.get_secret_value()),
                    ("DENGJI_WECHAT_AES_KEY", self.wechat_aes_key.get_secret_value()),
                    ("DENGJI_MP_APPID", self.mp_appid),
                    ("DENGJI_MP_SECRET", self.mp_secret.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ConfigError("生产模式缺少必需配置：" + "、".join(missing))
        if self.wechat_aes_key.get_secret_value() and len(self.wechat_aes_key.get_secret_value()) != 43:
            raise ConfigError("DENGJI_WECHAT_AES_KEY 必须为 43 个字符")
        return self

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def jobs(self) -> str:
        if self.jobs_backend != "auto":
            return self.jobs_backend
        return "inline" if self.embedded_redis else "arq"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))

    @cached_property
    def master_key(self) -> bytes:
        """Return the data master key; in development, generate and keep one under home."""
        if self.data_key is not None:
            try:
                raw = base64.urlsafe_b64decode(self.data_key.get_secret_value().strip() + "==")
            except ValueError:
                raw = b""
            if len(raw) < 32:
                raise ConfigError("DENGJI_DATA_KEY 须为 base64 编码的 32 字节密钥，可用以下命令生成："
                                  f"{GENERATE_KEY}")
            return raw
        if self.env == "production":
            raise ConfigError("生产模式缺少必需配置：DENGJI_DATA_KEY")
        path = self.home / "data.key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        return base64.urlsafe_b64decode(path.read_text().strip() + "==")

    def tortoise_config(self) -> dict:
        return {
            "connections": {"default": self.database_url},
            "apps": {
                "models": {
                    "models": ["models"],
                    "default_connection": "default",
                    "migrations": "models.migrations",
                }
            },
            "use_tz": True,
            "timezone": "Asia/Shanghai",
        }


def load_settings(**overrides) -> Settings:
    """Build and validate settings (defaults file < environment < explicit overrides)."""
    return Settings(**overrides)
