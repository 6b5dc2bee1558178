"""Live conversation fixtures: a scripted local model installed in the app, and helpers to start
conversations and read turns (SSE or JSON)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from callplane.conversations.live import LiveRuntime
from callplane.llm import OpenAICompatibleProvider
from tests.factories import Tenant
from tests.support.llm_stub import StubLLMServer


@pytest.fixture
def live_runtime(client: httpx.AsyncClient) -> Iterator[LiveRuntime]:
    """The app's LiveRuntime, restored after the test (tests swap its model or HTTP caller)."""
    runtime: LiveRuntime = client.app.state.live_runtime  # type: ignore[attr-defined]
    saved = (runtime.model, runtime.http, runtime.retriever, runtime.idle_timeout_seconds)
    yield runtime
    runtime.model, runtime.http, runtime.retriever, runtime.idle_timeout_seconds = saved


@pytest.fixture
async def llm(live_runtime: LiveRuntime) -> AsyncIterator[StubLLMServer]:
    """A scripted local OpenAI-compatible model answering the app's live conversations."""
    server = StubLLMServer()
    server.start()
    provider = OpenAICompatibleProvider(
        server.base_url, "sk-test", "stub-model", timeout_seconds=5.0, max_retries=0
    )
    live_runtime.model = provider
    yield server
    await provider.aclose()
    server.stop()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def start(tenant: Tenant, agent_id: str, **body: Any) -> dict[str, Any]:
    response = await tenant.post(f"/core/agents/{agent_id}/conversations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def say(
    tenant: Tenant, conversation_id: str, content: str, **kwargs: Any
) -> list[tuple[str, dict[str, Any]]]:
    response = await tenant.post(
        f"/core/conversations/{conversation_id}/messages", json={"content": content}, **kwargs
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


async def agent_with(tenant: Tenant, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An agent whose version 1 (a draft) has `config`; start with version `latest`."""
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"], config=config)
    return agent["id"], version


async def transcript(tenant: Tenant, conversation_id: str) -> dict[str, Any]:
    response = await tenant.get(f"/core/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())
