"""Idempotency-Key on a turn: a retry gets the stored turn back (SSE or JSON), not a second run."""

from __future__ import annotations

import asyncio
import threading

from tests.conversations.conftest import agent_with, parse_sse, start, transcript
from tests.factories import Tenant
from tests.support.llm_stub import Scripted, StubLLMServer


async def test_a_retried_streamed_turn_is_replayed_not_run_again(
    tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    conversation = await start(tenant, agent_id, version="latest")
    url = f"/core/conversations/{conversation['id']}/messages"
    llm.script.append(Scripted(text="First and only answer."))
    headers = {"Idempotency-Key": "turn-1"}
    first = await tenant.post(url, json={"content": "Hi"}, headers=headers)
    assert first.status_code == 200
    retry = await tenant.post(url, json={"content": "Hi"}, headers=headers)
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["content-type"].startswith("text/event-stream")
    assert retry.text == first.text
    assert parse_sse(retry.text)[-1][1]["message"]["content"] == "First and only answer."
    assert len(llm.requests) == 1
    read = await transcript(tenant, conversation["id"])
    assert read["turns"] == 1
    assert [e["role"] for e in read["transcript"]] == ["user", "agent"]
    assert read["transcript"][0]["idempotency_key"] == "turn-1"

    # Another message under the same key is another request: refused.
    other = await tenant.post(url, json={"content": "Hello"}, headers=headers)
    assert other.status_code == 422

    # JSON answers are replayed too.
    llm.script.append(Scripted(text="Second."))
    json_headers = {"Idempotency-Key": "turn-2", "Accept": "application/json"}
    one = await tenant.post(url, json={"content": "Again"}, headers=json_headers)
    two = await tenant.post(url, json={"content": "Again"}, headers=json_headers)
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json() and two.headers["idempotent-replayed"] == "true"
    assert len(llm.requests) == 2


async def test_a_retry_while_the_turn_streams_is_refused(
    tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    conversation = await start(tenant, agent_id, version="latest")
    url = f"/core/conversations/{conversation['id']}/messages"
    gate = threading.Event()
    llm.behaviour.gate = gate
    llm.behaviour.reply = "Slow answer here."
    headers = {"Idempotency-Key": "slow-turn"}
    first = asyncio.create_task(tenant.post(url, json={"content": "Hi"}, headers=headers))
    for _ in range(200):
        if llm.requests:
            break
        await asyncio.sleep(0.01)
    retry = await tenant.post(url, json={"content": "Hi"}, headers=headers)
    assert retry.status_code == 409
    assert retry.json()["code"] == "idempotency_key_in_flight"
    gate.set()
    answered = await first
    assert parse_sse(answered.text)[-1][1]["message"]["content"] == "Slow answer here."
    assert len(llm.requests) == 1
