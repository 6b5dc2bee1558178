"""Production refuses settings that are only safe on a laptop, naming every problem at once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callplane.config import Settings

PG = "postgresql+asyncpg://callplane@db.internal/callplane"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"database_url": "sqlite+aiosqlite:///./var/x.db"}, "CALLPLANE_DATABASE_URL"),
        ({"crawler_allow_private_networks": True}, "CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS"),
        ({"log_level": "debug"}, "CALLPLANE_LOG_LEVEL"),
        ({"llm_base_url": "https://llm.internal/v1"}, "CALLPLANE_LLM_API_KEY"),
        ({"test_pause_after_step": "deploy"}, "CALLPLANE_TEST_PAUSE_AFTER_STEP"),
    ],
)
def test_production_refuses(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(**{"env": "production", "database_url": PG, **overrides})  # type: ignore[arg-type]
    # The same values are accepted for development and tests.
    Settings(**{"env": "development", "database_url": PG, **overrides})  # type: ignore[arg-type]


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(env="production", crawler_allow_private_networks=True, log_level="DEBUG")
    message = str(refused.value)
    for named in ("CALLPLANE_DATABASE_URL", "CRAWLER_ALLOW_PRIVATE", "CALLPLANE_LOG_LEVEL"):
        assert named in message


def test_a_safe_production_configuration_starts() -> None:
    settings = Settings(
        env="production", database_url=PG, llm_base_url="https://x/v1", llm_api_key="k"
    )
    assert settings.rate_limit_requests > 0


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLPLANE_ENV", "production")
    monkeypatch.setenv("CALLPLANE_DATABASE_URL", PG)
    monkeypatch.setenv("CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS", "true")
    with pytest.raises(ValidationError, match="CRAWLER_ALLOW_PRIVATE_NETWORKS"):
        Settings()
