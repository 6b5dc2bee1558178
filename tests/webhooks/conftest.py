from __future__ import annotations

import pytest

from callplane.config import Settings


@pytest.fixture(autouse=True)
def fast_retries(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Three attempts, 0.05 s then 0.1 s apart: the retry schedule in milliseconds."""
    monkeypatch.setattr(settings, "webhook_max_attempts", 3)
    monkeypatch.setattr(settings, "webhook_retry_base_seconds", 0.05)
    monkeypatch.setattr(settings, "webhook_retry_backoff_rate", 2.0)
    monkeypatch.setattr(settings, "webhook_timeout_seconds", 2.0)
    return settings
