from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from callplane.config import Settings
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Start receivers (127.0.0.1) for one test; all are shut down afterwards."""
    started: list[Receiver] = []

    def start(*args: object, **kwargs: object) -> Receiver:
        receiver = Receiver(*args, **kwargs)  # type: ignore[arg-type]
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


@pytest.fixture(autouse=True)
def fast_retries(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Three attempts, 0.05 s then 0.1 s apart: the retry schedule in milliseconds."""
    monkeypatch.setattr(settings, "webhook_max_attempts", 3)
    monkeypatch.setattr(settings, "webhook_retry_base_seconds", 0.05)
    monkeypatch.setattr(settings, "webhook_retry_backoff_rate", 2.0)
    monkeypatch.setattr(settings, "webhook_timeout_seconds", 2.0)
    return settings
