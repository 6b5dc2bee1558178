"""OpenAICompatibleProvider against a real loopback server, through the real `openai` client."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from pydantic import ValidationError

from callplane.config import Settings
from callplane.llm import (
    LLMEmptyResponse,
    LLMError,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    LLMWriter,
    Message,
    OpenAICompatibleProvider,
    TemplateWriter,
    writer_for,
)
from callplane.versions.summary import summary_chunks
from tests.llm.conftest import API_KEY, MODEL
from tests.support.llm_stub import StubBehaviour, StubLLMServer
from tests.support.processes import free_port

MESSAGES: list[Message] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]


async def test_complete_sends_model_messages_and_key(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.behaviour = StubBehaviour(reply="Hello there, caller.")

    text = await provider.complete(MESSAGES, max_tokens=64, temperature=0.25)

    assert text == "Hello there, caller."
    assert len(stub.requests) == 1
    request = stub.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == MODEL
    assert request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 64
    assert request.body["temperature"] == 0.25
    assert not request.body.get("stream")


async def test_stream_yields_the_chunks_in_order(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.behaviour = StubBehaviour(chunks=["One, ", "two, ", "three."])

    chunks = [chunk async for chunk in provider.stream(MESSAGES, max_tokens=32, temperature=0)]

    assert chunks == ["One, ", "two, ", "three."]
    assert len(stub.requests) == 1
    assert stub.requests[0].body["stream"] is True
    assert stub.requests[0].body["model"] == MODEL
    assert stub.requests[0].body["messages"] == MESSAGES
    assert stub.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_stream_hands_over_the_first_chunk_before_the_rest_exists(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    gate = threading.Event()
    stub.behaviour = StubBehaviour(chunks=["first ", "second"], gate=gate)
    stream = provider.stream(MESSAGES, max_tokens=32, temperature=0)

    # The server holds the second chunk back until the gate opens: reading the first one must
    # not wait for it.
    first = await asyncio.wait_for(anext(stream), timeout=5)
    assert first == "first "
    gate.set()
    assert [chunk async for chunk in stream] == ["second"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_overload_and_server_errors_are_transient(
    stub: StubLLMServer, provider: OpenAICompatibleProvider, status: int
) -> None:
    stub.behaviour = StubBehaviour(fail_status=status)

    with pytest.raises(LLMUnavailable) as raised:
        await provider.complete(MESSAGES, max_tokens=8, temperature=0)

    assert raised.value.transient is True
    assert raised.value.code == "llm_unavailable"
    assert raised.value.status_code == status
    assert f"stub failure {status}" in str(raised.value)
    assert len(stub.requests) == 1  # max_retries=0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_permanent(
    stub: StubLLMServer, provider: OpenAICompatibleProvider, status: int
) -> None:
    stub.behaviour = StubBehaviour(fail_status=status)

    with pytest.raises(LLMRequestRejected) as raised:
        await provider.complete(MESSAGES, max_tokens=8, temperature=0)

    assert raised.value.transient is False
    assert raised.value.code == "llm_request_rejected"
    assert raised.value.status_code == status


async def test_streaming_errors_are_mapped_too(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.behaviour = StubBehaviour(fail_status=400)
    with pytest.raises(LLMRequestRejected):
        _ = [chunk async for chunk in provider.stream(MESSAGES, max_tokens=8, temperature=0)]

    stub.behaviour = StubBehaviour(fail_status=503)
    with pytest.raises(LLMUnavailable):
        _ = [chunk async for chunk in provider.stream(MESSAGES, max_tokens=8, temperature=0)]


async def test_a_hanging_endpoint_times_out(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.behaviour = StubBehaviour(hang=True)
    started = time.monotonic()

    with pytest.raises(LLMTimeout) as raised:
        await provider.complete(MESSAGES, max_tokens=8, temperature=0)

    elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 6, elapsed  # the provider's 2 s timeout, not the server's 10 s hang
    assert raised.value.transient is True
    assert raised.value.code == "llm_timeout"


async def test_a_stream_that_stalls_midway_times_out_after_its_first_chunk(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.behaviour = StubBehaviour(chunks=["partial ", "never sent"], hang_after_first_chunk=True)
    received: list[str] = []

    with pytest.raises(LLMTimeout):
        async for chunk in provider.stream(MESSAGES, max_tokens=8, temperature=0):
            received.append(chunk)

    assert received == ["partial "]


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    port = free_port()
    provider = OpenAICompatibleProvider(
        f"http://127.0.0.1:{port}/v1", "k", timeout_seconds=0.5, max_retries=0
    )
    try:
        with pytest.raises(LLMUnavailable) as raised:
            await provider.complete(MESSAGES, max_tokens=8, temperature=0)
    finally:
        await provider.aclose()
    assert raised.value.transient is True
    assert raised.value.status_code is None


async def test_empty_answers_are_errors(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.behaviour = StubBehaviour(reply="  \n")
    with pytest.raises(LLMEmptyResponse) as raised:
        await provider.complete(MESSAGES, max_tokens=8, temperature=0)
    assert raised.value.code == "llm_empty_response"

    stub.behaviour = StubBehaviour(chunks=[])
    with pytest.raises(LLMEmptyResponse):
        _ = [chunk async for chunk in provider.stream(MESSAGES, max_tokens=8, temperature=0)]


async def test_the_client_retries_transient_failures_when_asked(stub: StubLLMServer) -> None:
    stub.behaviour = StubBehaviour(reply="Recovered.", fail_status=503, fail_times=1)
    provider = OpenAICompatibleProvider(stub.base_url, API_KEY, MODEL, max_retries=1)
    try:
        assert await provider.complete(MESSAGES, max_tokens=8, temperature=0) == "Recovered."
    finally:
        await provider.aclose()
    assert len(stub.requests) == 2


async def test_requests_go_through_a_given_httpx_client(stub: StubLLMServer) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http_client:
        provider = OpenAICompatibleProvider(
            stub.base_url, API_KEY, MODEL, max_retries=0, http_client=http_client
        )
        assert await provider.complete(MESSAGES, max_tokens=8, temperature=0) == (
            "Hello from the stub."
        )
    assert seen == [f"{stub.base_url}/chat/completions"]


async def test_all_errors_share_the_base_class() -> None:
    for error in (LLMTimeout, LLMUnavailable, LLMRequestRejected, LLMEmptyResponse):
        assert issubclass(error, LLMError)
    assert {LLMTimeout.code, LLMUnavailable.code, LLMRequestRejected.code} == {
        "llm_timeout",
        "llm_unavailable",
        "llm_request_rejected",
    }


# --- configuration (the one settings path: `Settings` → `writer_for`) --------------------------


def test_no_base_url_means_the_template_writer() -> None:
    assert isinstance(writer_for(Settings(llm_base_url=None), summary_chunks), TemplateWriter)
    assert isinstance(writer_for(Settings(llm_model="x"), summary_chunks), TemplateWriter)


def test_settings_defaults_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(llm_base_url="http://127.0.0.1:1/v1")
    assert (defaults.llm_model, defaults.llm_timeout_seconds, defaults.llm_api_key) == (
        "gpt-4o-mini",
        30.0,
        None,
    )

    for name, value in {
        "CALLPLANE_LLM_BASE_URL": "http://llm.internal:8000/v1",
        "CALLPLANE_LLM_API_KEY": "sk-abc",
        "CALLPLANE_LLM_MODEL": "llama3.1:8b",
        "CALLPLANE_LLM_TIMEOUT_SECONDS": "12.5",
    }.items():
        monkeypatch.setenv(name, value)
    given = Settings()
    assert given.llm_base_url == "http://llm.internal:8000/v1"
    assert (given.llm_api_key, given.llm_model, given.llm_timeout_seconds) == (
        "sk-abc",
        "llama3.1:8b",
        12.5,
    )


@pytest.mark.parametrize("timeout", ["0", "-3", "soon", "nan", "inf"])
def test_a_bad_timeout_is_refused(monkeypatch: pytest.MonkeyPatch, timeout: str) -> None:
    monkeypatch.setenv("CALLPLANE_LLM_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("CALLPLANE_LLM_TIMEOUT_SECONDS", timeout)
    with pytest.raises(ValidationError, match="llm_timeout_seconds"):
        Settings()


async def test_writer_for_talks_to_the_configured_endpoint(stub: StubLLMServer) -> None:
    writer = writer_for(
        Settings(
            llm_base_url=stub.base_url,
            llm_api_key="sk-from-settings",
            llm_model="settings-model",
            llm_timeout_seconds=5,
        ),
        summary_chunks,
    )
    assert isinstance(writer, LLMWriter)
    provider = writer.provider
    assert isinstance(provider, OpenAICompatibleProvider)
    try:
        assert await provider.complete(MESSAGES, max_tokens=8, temperature=0) == (
            "Hello from the stub."
        )
    finally:
        await provider.aclose()
    assert stub.requests[0].body["model"] == "settings-model"
    assert stub.requests[0].headers["authorization"] == "Bearer sk-from-settings"
