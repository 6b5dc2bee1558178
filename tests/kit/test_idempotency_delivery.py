"""`Idempotency-Key`: the answer is stored before the client sees it, so a retry sent the moment
the response arrives is replayed (never told 409 `idempotency_key_in_flight`); a streamed answer
is passed through as it is written and is not stored (ADR 0004)."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import orjson
from sqlalchemy import select
from starlette.types import Message, Receive, Scope, Send

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.models import IdempotencyKey
from tests.factories import Tenant
from tests.support.processes import Processes, process_env
from tests.versions.test_comparison_api import asgi_post, two_versions

RETRIES = 40


async def test_an_immediate_retry_over_http_gets_the_replay(
    processes: Processes, settings: Settings, tenant: Tenant
) -> None:
    """A real server and one keep-alive connection: each retry leaves as soon as the first
    response is read (before the fix 11-17 of 40 got 409 in flight)."""
    server = processes.server(process_env(settings), "api")
    await server.wait_healthy()
    answers = []
    async with httpx.AsyncClient(base_url=server.url, headers=tenant.headers, timeout=30) as http:
        for n in range(RETRIES):
            headers = {"Idempotency-Key": f"immediate-{n}-{uuid.uuid4().hex}"}
            body = {"name": f"Immediate {n}"}
            first = await http.post("/core/agents", json=body, headers=headers)
            assert first.status_code == 201, first.text
            retry = await http.post("/core/agents", json=body, headers=headers)
            replayed = retry.headers.get("idempotent-replayed")
            answers.append((retry.status_code, replayed, retry.content == first.content))
    assert answers == [(201, "true", True)] * RETRIES, Counter(answers)


def retry_on_delivery(app: httpx.AsyncClient, retries: list[httpx.Response]) -> object:
    """The test app, wrapped so that the moment a response's last byte goes out, the same
    request is sent again: the tightest retry a client could make."""
    inner = app.app  # type: ignore[attr-defined]

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_then_retry(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                headers = {
                    name.decode(): value.decode()
                    for name, value in scope["headers"]
                    if name in (b"authorization", b"content-type", b"idempotency-key")
                }
                retries.append(
                    await app.request(
                        scope["method"],
                        scope["path"],
                        content=scope["state"]["body"],
                        headers=headers,
                    )
                )

        await inner(scope, receive, send_then_retry)

    return wrapped


async def test_a_retry_the_moment_the_answer_arrives_is_replayed(tenant: Tenant) -> None:
    """Deterministic: the retry is made inside the first response's last `send`."""
    retries: list[httpx.Response] = []
    transport = httpx.ASGITransport(app=retry_on_delivery(tenant.client, retries))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = {**tenant.headers, "Idempotency-Key": f"k-{uuid.uuid4().hex}"}
        first = await http.post("/core/agents", json={"name": "Delivered"}, headers=headers)
    assert first.status_code == 201
    [retry] = retries
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()


async def test_a_streamed_answer_is_streamed_and_not_stored(
    tenant: Tenant, database: Database
) -> None:
    """`POST .../compare` streams: with a key it still streams piece by piece; its answer is
    not stored, and the key is released as the stream starts, so a retry runs again."""
    agent_id = await two_versions(tenant)
    key = f"k-{uuid.uuid4().hex}"
    path = f"/core/agents/{agent_id}/versions/compare"
    body = orjson.dumps({"from_version": 1, "to_version": 2})
    headers = {**tenant.headers, "content-type": "application/json", "Idempotency-Key": key}
    app = tenant.client.app  # type: ignore[attr-defined]
    for _ in range(2):
        messages = await asgi_post(app, path, body, headers)
        start = messages[0]
        assert start["status"] == 200
        assert b"idempotent-replayed" not in dict(start["headers"])
        pieces = [m for m in messages[1:] if m["type"] == "http.response.body" and m.get("body")]
        assert len(pieces) >= 2
        async with database.session(write=False) as session:
            rows = (
                await session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key))
            ).all()
        assert rows == []
