"""SIGTERM, as an orchestrator sends it, to real `callplane serve` processes: requests in flight
finish (within CALLPLANE_SHUTDOWN_GRACE_SECONDS), new connections are refused, the exit is clean.

The slow request is a version comparison streamed from a stub model that holds its answer back
until the test lets it go on.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from callplane.config import Settings
from tests.factories import Tenant
from tests.support.llm_stub import StubBehaviour, StubLLMServer
from tests.support.processes import Process, Processes, process_env

CHUNKS = ["The instructions ", "now greet callers ", "by name."]


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    server = StubLLMServer(behaviour=StubBehaviour(chunks=CHUNKS, gate=threading.Event()))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def served(
    settings: Settings,
    stub: StubLLMServer,
    processes: Processes,
    request: pytest.FixtureRequest,
) -> Process:
    grace = getattr(request, "param", 20)
    env = process_env(
        settings,
        CALLPLANE_WORKFLOWS="off",  # the test process's app runs the workflow engine
        CALLPLANE_LLM_BASE_URL=stub.base_url,
        CALLPLANE_SHUTDOWN_GRACE_SECONDS=str(grace),
    )
    server = processes.server(env, "serve", no_worker=False)
    await server.wait_healthy()
    return server


async def two_versions(tenant: Tenant) -> str:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={"instructions": "Help callers."})
    await tenant.create_version(agent["id"], config={"instructions": "Greet callers by name."})
    return str(agent["id"])


async def refusing_connections(url: str) -> None:
    """Wait until the server stops accepting connections (it sees the signal on its next tick)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            async with httpx.AsyncClient(base_url=url) as fresh:  # a new connection each time
                await fresh.get("/health")
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            # refused; closed unanswered; or reset: a connection the kernel queued before the
            # listening socket closed is reset when it closes
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server still accepts connections after SIGTERM")


async def test_sigterm_lets_a_streaming_request_finish_then_exits_cleanly(
    served: Process, stub: StubLLMServer, tenant: Tenant
) -> None:
    agent_id = await two_versions(tenant)
    gate = stub.behaviour.gate
    assert gate is not None
    async with (
        httpx.AsyncClient(base_url=str(served.url), timeout=30) as client,
        client.stream(
            "POST",
            f"/core/agents/{agent_id}/versions/compare",
            json={"from_version": 1, "to_version": 2},
            headers={**tenant.headers, "X-Request-ID": "slow-compare"},
        ) as response,
    ):
        assert response.status_code == 200
        chunks = response.aiter_text()
        received = await anext(chunks)  # the model is now holding the rest back
        held_since = time.monotonic()
        served.popen.send_signal(signal.SIGTERM)
        await refusing_connections(str(served.url))
        assert served.popen.poll() is None  # still serving the request in flight
        held_ms = (time.monotonic() - held_since) * 1000
        gate.set()
        async for chunk in chunks:
            received += chunk
    assert received == "".join(CHUNKS)
    assert await served.exit_code(15) == 0

    lines = [orjson.loads(line) for line in served.log.read_bytes().splitlines() if line.strip()]
    [access] = [line for line in lines if line.get("request_id") == "slow-compare"]
    assert access["logger"] == "callplane.access"
    assert access["route"] == "/core/agents/{agent_id}/versions/compare"
    assert access["status"] == 200
    assert access["duration_ms"] >= held_ms  # the whole stream, not just its start
    assert access["organization_id"] == str(tenant.organization_id)
    assert tenant.api_key.split(".", 1)[1].encode() not in served.log.read_bytes()


@pytest.mark.parametrize("served", [1], indirect=True)
async def test_a_request_still_running_after_the_grace_period_is_cut_off(
    served: Process, tenant: Tenant
) -> None:
    """CALLPLANE_SHUTDOWN_GRACE_SECONDS bounds the wait: the model never answers here."""
    agent_id = await two_versions(tenant)
    async with (
        httpx.AsyncClient(base_url=str(served.url), timeout=30) as client,
        client.stream(
            "POST",
            f"/core/agents/{agent_id}/versions/compare",
            json={"from_version": 1, "to_version": 2},
            headers=tenant.headers,
        ) as response,
    ):
        chunks = response.aiter_text()
        await anext(chunks)
        signalled = time.monotonic()
        served.popen.send_signal(signal.SIGTERM)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # ends unfinished
            async for _ in chunks:
                pass
    assert await served.exit_code(15) == 0
    assert 1 <= time.monotonic() - signalled < 10
