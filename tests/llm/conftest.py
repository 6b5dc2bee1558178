"""Fixtures for the LLM layer: a loopback OpenAI-compatible server and a provider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from callplane.llm import OpenAICompatibleProvider
from tests.support.llm_stub import StubLLMServer

API_KEY = "sk-test-0123456789"
MODEL = "test-model-1"


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    server = StubLLMServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def provider(stub: StubLLMServer) -> AsyncIterator[OpenAICompatibleProvider]:
    """No retries and a short timeout (long enough for a loaded machine to connect), so failure
    tests are fast and count requests exactly."""
    client = OpenAICompatibleProvider(
        stub.base_url, API_KEY, MODEL, timeout_seconds=2.0, max_retries=0
    )
    yield client
    await client.aclose()
