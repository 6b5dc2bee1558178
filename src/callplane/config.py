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

    # Workflows (DBOS). embedded: this process enqueues and runs workflows; enqueue_only: it only
    # enqueues (API processes beside `callplane worker` processes); off: no engine (tools, tests).
    workflows: Literal["embedded", "enqueue_only", "off"] = "embedded"
    workflow_database_url: str | None = Field(
        default=None,
        description="DBOS system database; default: a SQLite file beside the app database, or "
        "the same PostgreSQL database (schema `dbos`).",
    )
    workflow_executor_id: str | None = Field(
        default=None,
        description="Stable id of this process for workflow recovery (DBOS executor id); a "
        "restarted process with the same id resumes the workflows it was running.",
    )
    workflow_concurrency: int = Field(default=4, ge=1, le=64)
    workflow_queue: str = "callplane"

    # LLM: any OpenAI-compatible endpoint; without a base URL a deterministic writer is used.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    # Crawler
    crawler_allow_private_networks: bool = Field(
        default=False,
        description="Let the crawler fetch loopback/private addresses (SSRF guard off). "
        "Refused with CALLPLANE_ENV=production.",
    )

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
