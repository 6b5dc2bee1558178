"""Settings read from the environment (prefix CALLPLANE_)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/callplane.db"
PRODUCTION_RATE_LIMIT = 1200  # per credential per window (a minute by default)


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

    # Rate limiting per credential (fixed windows). Off by default; production turns it on.
    rate_limit_requests: int = Field(
        default=0,
        ge=0,
        description="Requests a credential may make per window; 0 turns limiting off. "
        f"With CALLPLANE_ENV=production and no value set: {PRODUCTION_RATE_LIMIT}.",
    )
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=3600)
    rate_limit_backend: Literal["database", "memory"] = Field(
        default="database",
        description="database: one limit shared by every process on the database; memory: per "
        "process (single-process deployments).",
    )
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
        description="Id of this process for workflow recovery (DBOS executor id); a restarted "
        "process with the same id resumes the workflows it was running at once. Unset: `local` "
        "on SQLite; on PostgreSQL a unique id per process (survivors take over a dead one's work). "
        "Two live processes must never share one.",
    )
    workflow_takeover_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="PostgreSQL: how often a process that runs workflows looks for dead "
        "processes' unfinished workflows and takes them over.",
    )
    workflow_concurrency: int = Field(default=4, ge=1, le=64)
    workflow_queue: str = "callplane"

    # LLM: any OpenAI-compatible endpoint; without a base URL a deterministic writer is used.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    # Live conversations (docs/runtime.md)
    conversation_idle_timeout_seconds: int = Field(
        default=900,
        ge=10,
        le=7 * 24 * 3600,
        description="A live conversation with no turn for this long ends as `idle_timeout` "
        "(checked when it is next used, and swept by housekeeping about once a minute).",
    )
    conversation_max_message_chars: int = Field(
        default=8000, ge=1, le=100_000, description="Longest user message a turn accepts."
    )
    conversation_http_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest response body an `http_request` tool action reads.",
    )

    # Embeddings for semantic/hybrid knowledge search: any OpenAI-compatible `/embeddings`
    # endpoint; without a base URL, knowledge search is keyword search (docs/knowledge.md).
    embeddings_base_url: str | None = None
    embeddings_api_key: str | None = None
    embeddings_model: str = "text-embedding-3-small"
    embeddings_dimensions: int | None = Field(default=None, ge=1, le=8192)
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048)
    embeddings_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    knowledge_refresh_check_minutes: int = Field(
        default=5,
        ge=0,
        le=60,
        description="How often the processes that run workflows look for knowledge collections "
        "whose `refresh_interval_hours` has passed and refresh them: a divisor of 60 (1, 2, 3, "
        "4, 5, 6, 10, 12, 15, 20, 30, 60); 0 turns scheduled refreshes off.",
    )

    # Crawler
    crawler_allow_private_networks: bool = Field(
        default=False,
        description="Let the crawler fetch loopback/private addresses (SSRF guard off). "
        "Refused with CALLPLANE_ENV=production.",
    )

    # The web console (docs/console.md)
    console_session_minutes: int = Field(
        default=12 * 60,
        ge=1,
        le=30 * 24 * 60,
        description="How long a console sign-in lasts; signing out or revoking the credential it "
        "was made with ends it sooner.",
    )
    console_login_link_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="How long a one-time console login link works."
    )
    console_public_url: str | None = Field(
        default=None,
        description="Base URL printed in console login links (`callplane console-link`); "
        "default http://127.0.0.1:8000.",
    )
    widget_rate_limit_requests: int = Field(
        default=60,
        ge=1,
        description="Public widget requests allowed per widget and client address per minute.",
    )

    # Webhooks (docs/webhooks.md): attempt n+1 waits base * rate**(n-1) seconds after attempt n.
    # Webhook URLs go through the crawler's SSRF guard (crawler_allow_private_networks).
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=30, description="Attempts per delivery before it is `failed`."
    )
    webhook_retry_base_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="Wait before the second attempt."
    )
    webhook_retry_backoff_rate: float = Field(
        default=2.0, ge=1, le=10, description="Each further wait is this many times longer."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Whole-request limit per attempt."
    )
    webhook_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Delivery attempts one process makes at once. Deliveries have a queue of "
        "their own (`<CALLPLANE_WORKFLOW_QUEUE>-webhooks`), so slow receivers never hold up "
        "website builds or instruction generation.",
    )

    # Housekeeping: processes that run workflows also prune, about once a minute, expired
    # Idempotency-Keys (after idempotency_ttl_hours), audit events past their retention and the
    # workflow engine's records of long-finished workflows.
    audit_retention_days: int = Field(
        default=0,
        ge=0,
        le=36500,
        description="Delete audit events (and their webhook deliveries) older than this many "
        "days; 0 keeps them forever.",
    )
    workflow_history_days: int = Field(
        default=7,
        ge=0,
        le=36500,
        description="Delete the workflow engine's records of workflows that finished more than "
        "this many days ago (every webhook attempt is one); 0 keeps them forever. The API's "
        "own workflow runs (GET /core/workflows/{id}) are kept regardless.",
    )

    # Observability and shutdown (docs/operations.md)
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="When set, GET /metrics requires `Authorization: Bearer <token>`. Unset, "
        "/metrics is public in development/test and refused (403) in production.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`callplane worker` serves GET /metrics on this port (all interfaces), "
        "under the same token rule as the API's /metrics. Unset: no listener.",
    )
    access_log: bool = Field(
        default=True, description="One JSON line per request on the `callplane.access` logger."
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, sent to the "
        "providers you configure (e.g. with `opentelemetry-instrument`). Off, no request pays "
        "for looking the providers up.",
    )
    test_pause_after_step: str | None = Field(
        default=None,
        description="Tests only (refused in production): the workflow step (e.g. `deploy`) that "
        "holds forever once its transaction has committed, before the engine checkpoints it, "
        "so a test can kill the process in that window.",
    )
    shutdown_grace_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="On SIGTERM, how long `callplane serve` lets in-flight requests finish "
        "before cancelling them; keep it below your orchestrator's kill timeout.",
    )

    # Voice gateway (docs/voice.md). The carrier reaches callplane at `public_url`: signatures
    # are computed over it and the TwiML points the media stream at it.
    public_url: str | None = Field(
        default=None,
        description="Public base URL the carrier calls (e.g. `https://voice.example.com`); "
        "unset: the URL of the request as received.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Encrypts carrier credentials at rest and signs call tokens. Unset outside "
        "production: a fixed development key; in production carrier credentials are refused.",
    )
    voice_stt_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible speech-to-text (`POST {base}/audio/transcriptions`); "
        "unset: the offline recognizer (pocketsphinx).",
    )
    voice_tts_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible text-to-speech (`POST {base}/audio/speech`); unset: the "
        "offline synthesizer (the `espeak-ng` binary).",
    )
    voice_api_key: str | None = None
    voice_stt_model: str = "whisper-1"
    voice_tts_model: str = "tts-1"
    voice_endpointing_ms: int = Field(
        default=400,
        ge=100,
        le=3000,
        description="Silence after the caller's speech that ends their turn.",
    )
    voice_vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    voice_offline_stt_workers: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Processes the offline recognizer (pocketsphinx) may run at once, one per "
        "utterance being recognized (≈60 MB each); callers beyond it are decoded when one frees.",
    )
    voice_recording_dir: str = "./var/recordings"
    voice_call_token_seconds: int = Field(
        default=60, ge=5, le=3600, description="How long a stream may take to connect."
    )
    twilio_api_base_url: str = "https://api.twilio.com"
    telnyx_api_base_url: str = "https://api.telnyx.com"

    @field_validator("knowledge_refresh_check_minutes")
    @classmethod
    def _divides_the_hour(cls, minutes: int) -> int:
        if minutes and 60 % minutes:
            raise ValueError(
                "must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60), or be 0 (off), "
                "so that checks are evenly spaced"
            )
        return minutes

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        """Outside development and tests, a setting that is only safe on a laptop is refused at
        startup (all problems named at once) rather than silently accepted."""
        if self.env != "production":
            return self
        problems = []
        if self.database_url.startswith("sqlite"):
            problems.append("CALLPLANE_DATABASE_URL must be PostgreSQL (SQLite is single-host)")
        if self.crawler_allow_private_networks:
            problems.append(
                "CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS must be false (it turns the SSRF "
                "guard of the crawler and of webhook deliveries off)"
            )
        if self.test_pause_after_step:
            problems.append(
                "CALLPLANE_TEST_PAUSE_AFTER_STEP is for tests only (it stalls workflows)"
            )
        if self.log_level.upper() == "DEBUG":
            problems.append("CALLPLANE_LOG_LEVEL=DEBUG may log request data; use INFO or above")
        if self.llm_base_url and not self.llm_api_key:
            problems.append(
                "CALLPLANE_LLM_BASE_URL is set without CALLPLANE_LLM_API_KEY (set any value "
                "for an endpoint that needs none)"
            )
        if problems:
            raise ValueError("CALLPLANE_ENV=production refuses: " + "; ".join(problems) + ".")
        if "rate_limit_requests" not in self.model_fields_set:
            self.rate_limit_requests = PRODUCTION_RATE_LIMIT
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
