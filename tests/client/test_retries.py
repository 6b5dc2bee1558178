"""Retries, idempotency keys, configuration and error parsing, on a scripted transport."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from callplane.client import (
    AsyncClient,
    CallplaneError,
    Client,
    ConnectionFailed,
    Forbidden,
    RateLimited,
    ServerError,
    ValidationFailed,
)

AGENT = {
    "id": str(uuid.uuid4()),
    "name": "Front desk",
    "description": None,
    "active": True,
    "is_demo": False,
    "metadata": {},
    "live_version": None,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "etag": '"1"',
}
RUNNING = {
    "workflow_id": "w1",
    "type": "generate_instructions",
    "status": "running",
    "progress": {},
    "result": None,
    "error": None,
    "attempts": 1,
    "created_at": "2026-01-01T00:00:00Z",
    "started_at": None,
    "finished_at": None,
}

Reply = httpx.Response | Exception


class Script:
    """Answers requests with the given replies in order (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def client(self, **kwargs: Any) -> Client:
        options: dict[str, Any] = {"backoff": 0.001, **kwargs}
        return Client("http://api.test", "ak_test", transport=httpx.MockTransport(self), **options)


def error(status: int, code: str = "oops", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"detail": f"{code} happened", "code": code}, headers=headers
    )


def created() -> httpx.Response:
    return httpx.Response(201, json=AGENT)


def test_a_write_retried_after_503_sends_the_same_idempotency_key() -> None:
    script = Script(error(503, "unavailable"), httpx.ConnectError("refused"), created())
    with script.client() as sdk:
        agent = sdk.agents.create(name="Front desk")
    assert str(agent.id) == AGENT["id"]
    assert len(script.requests) == 3
    keys = {r.headers["Idempotency-Key"] for r in script.requests}
    assert len(keys) == 1 and uuid.UUID(keys.pop()).version == 4
    assert {json.loads(r.content)["name"] for r in script.requests} == {"Front desk"}


def test_each_logical_write_gets_its_own_key_and_an_explicit_one_is_kept() -> None:
    script = Script(created())
    with script.client() as sdk:
        sdk.agents.create(name="a")
        sdk.agents.create(name="b")
        sdk.agents.create(name="c", idempotency_key="my-key-1")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys[0] != keys[1] and keys[2] == "my-key-1"


def test_reads_carry_no_idempotency_key_and_are_retried() -> None:
    script = Script(httpx.ReadError("reset"), error(502), httpx.Response(200, json=["a:read"]))
    with script.client() as sdk:
        assert sdk.my_scopes() == ["a:read"]
    assert len(script.requests) == 3
    assert all("Idempotency-Key" not in r.headers for r in script.requests)


@pytest.mark.parametrize(("status", "code"), [(429, "rate_limited"), (503, "database_unavailable")])
def test_429_and_503_wait_for_retry_after(status: int, code: str) -> None:
    script = Script(error(status, code, **{"Retry-After": "0.3"}), created())
    with script.client(backoff=0.0) as sdk:
        started = time.monotonic()
        sdk.agents.create(name="x")
        elapsed = time.monotonic() - started
    assert len(script.requests) == 2
    assert 0.3 <= elapsed < 2.0


def test_retries_stop_after_max_retries_with_the_last_error() -> None:
    script = Script(error(503, "unavailable"))
    with script.client(max_retries=2) as sdk, pytest.raises(ServerError) as failed:
        sdk.agents.create(name="x")
    assert len(script.requests) == 3
    assert (failed.value.status, failed.value.code) == (503, "unavailable")

    limited = Script(error(429, "rate_limited", **{"Retry-After": "0"}))
    with limited.client(max_retries=1) as sdk, pytest.raises(RateLimited):
        sdk.agents.create(name="x")
    assert len(limited.requests) == 2


def test_client_errors_are_not_retried() -> None:
    for status in (400, 403, 404, 409, 412, 422):
        script = Script(error(status), created())
        with script.client() as sdk, pytest.raises(CallplaneError) as failed:
            sdk.agents.create(name="x")
        assert len(script.requests) == 1 and failed.value.status == status


def test_an_in_flight_duplicate_is_waited_for() -> None:
    script = Script(error(409, "idempotency_key_in_flight"), created())
    with script.client() as sdk:
        sdk.agents.create(name="x")
    assert len(script.requests) == 2


def test_connection_errors_become_connection_failed() -> None:
    script = Script(httpx.ConnectError("refused"))
    with script.client(max_retries=1) as sdk, pytest.raises(ConnectionFailed) as failed:
        sdk.my_scopes()
    assert len(script.requests) == 2
    assert failed.value.status is None and "refused" in str(failed.value.detail)


def test_error_bodies_are_parsed() -> None:
    validation = httpx.Response(
        422,
        json={"detail": [{"loc": ["body", "name"], "msg": "required", "type": "missing"}]},
        headers={"X-Request-ID": "req-1"},
    )
    script = Script(validation)
    with script.client() as sdk, pytest.raises(ValidationFailed) as invalid:
        sdk.agents.create(name="x")
    assert invalid.value.code == "validation_error" and invalid.value.request_id == "req-1"
    assert invalid.value.detail == [{"loc": ["body", "name"], "msg": "required", "type": "missing"}]

    forbidden = Script(error(403, "forbidden", **{"X-Request-ID": "req-2"}))
    with forbidden.client() as sdk, pytest.raises(Forbidden) as denied:
        sdk.my_scopes()
    assert (denied.value.detail, denied.value.request_id) == ("forbidden happened", "req-2")

    proxy = Script(httpx.Response(502, text="<html>bad gateway</html>"))
    with proxy.client(max_retries=0) as sdk, pytest.raises(ServerError) as gateway:
        sdk.my_scopes()
    assert (gateway.value.code, gateway.value.detail) == ("http_502", "<html>bad gateway</html>")


def test_settings_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLPLANE_URL", "http://env.test:9000/")
    monkeypatch.setenv("CALLPLANE_API_KEY", "pat_from_env")
    monkeypatch.setenv("CALLPLANE_ORG", "org-1")
    script = Script(httpx.Response(200, json=["agents:read"]))
    with Client(transport=httpx.MockTransport(script)) as sdk:
        assert sdk.my_scopes() == ["agents:read"]
    request = script.requests[0]
    assert str(request.url) == "http://env.test:9000/admin/members/me/scopes"
    assert request.headers["Authorization"] == "Bearer pat_from_env"
    assert request.headers["X-Anyreach-Org"] == "org-1"

    with Client("http://arg.test", "ak_arg", transport=httpx.MockTransport(script)) as sdk:
        sdk.my_scopes()
    assert str(script.requests[1].url).startswith("http://arg.test/")
    assert script.requests[1].headers["Authorization"] == "Bearer ak_arg"


def test_if_match_and_path_encoding() -> None:
    script = Script(httpx.Response(200, json=AGENT))
    with script.client() as sdk:
        sdk.agents.update(AGENT["id"], if_match='"3"', active=False)
        sdk.agents.update(AGENT["id"], if_match="4", active=False)
    assert [r.headers["If-Match"] for r in script.requests] == ['"3"', '"4"']
    assert json.loads(script.requests[0].content) == {"active": False}
    assert script.requests[0].method == "PUT"


def test_wait_times_out() -> None:
    script = Script(httpx.Response(200, json=RUNNING))
    with script.client() as sdk, pytest.raises(TimeoutError):
        sdk.workflows.wait("w1", timeout=0.05, poll_interval=0.01)
    assert len(script.requests) >= 2


def async_script(script: Script) -> Callable[[httpx.Request], Any]:
    async def handler(request: httpx.Request) -> httpx.Response:
        return script(request)

    return handler


async def test_async_client_retries_with_the_same_key() -> None:
    script = Script(error(500, "boom"), httpx.ReadTimeout("slow"), created())
    transport = httpx.MockTransport(async_script(script))
    async with AsyncClient("http://api.test", "ak", transport=transport, backoff=0.001) as sdk:
        agent = await sdk.agents.create(name="x")
    assert str(agent.id) == AGENT["id"] and len(script.requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in script.requests}) == 1


async def test_async_stream_retries_only_before_the_first_chunk() -> None:
    script = Script(error(503), httpx.Response(200, text="No differences."))
    transport = httpx.MockTransport(async_script(script))
    async with AsyncClient("http://api.test", "ak", transport=transport, backoff=0.001) as sdk:
        chunks = [c async for c in sdk.agents.versions.compare(AGENT["id"], 1, 2)]
    assert "".join(chunks) == "No differences." and len(script.requests) == 2
    assert all("Idempotency-Key" not in r.headers for r in script.requests)
    assert json.loads(script.requests[0].content) == {"from_version": 1, "to_version": 2}


def test_sync_stream_retries_before_the_first_chunk_but_not_after() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, text="No differences."))
    with script.client() as sdk:
        assert "".join(sdk.agents.versions.compare(AGENT["id"], 1, "latest")) == "No differences."
    assert len(script.requests) == 2

    class BrokenStream(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"Added a tool. "
            raise httpx.ReadError("connection lost")

    broken = Script(httpx.Response(200, stream=BrokenStream()))
    with broken.client() as sdk:
        chunks = sdk.agents.versions.compare(AGENT["id"], 1, 2)
        assert next(chunks) == "Added a tool. "
        with pytest.raises(ConnectionFailed):
            next(chunks)
    assert len(broken.requests) == 1  # half a summary is not silently restarted
