"""Settings read from the environment (prefix CALLPLANE_)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/callplane.db"


class Settings(BaseSettings):
    """Every knob the service has. Development defaults are safe on a laptop only."""

    model_config = SettingsConfigDict(env_prefix="CALLPLANE_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Connections kept open per process; size it to the concurrent requests you "
        "expect (connections beyond it are opened and closed per use).",
    )
    sip_domain: str = "sip.callplane.local"
    auth_cache_ttl_seconds: float = Field(
        default=2.0,
        ge=0,
        le=5,
        description="How long a verified credential is trusted without re-reading it. "
        "Bounds how long a revocation takes to reach other processes (SPEC: within 5 s).",
    )
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    idempotency_lock_seconds: int = Field(
        default=60, ge=1, description="How long an in-flight idempotent request blocks a retry."
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env == "production" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "CALLPLANE_ENV=production requires a PostgreSQL CALLPLANE_DATABASE_URL"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
