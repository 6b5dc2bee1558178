"""Live conversations through the SDK: `start`, `send` (a streaming iterator of events), `turn`
(one JSON object), `end`, sync and async; the SSE decoder on its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from callplane.client import AsyncClient, Client, Conflict, NotFound, ValidationFailed
from callplane.client._sse import SSEDecoder, events
from callplane.conversations.schemas import LiveConversationRead, TurnEvent, TurnRead
from tests.factories import Tenant
from tests.support.bridge import IN_PROCESS_URL
from tests.support.llm_stub import Scripted, ScriptedCall, StubLLMServer

GREETER = {
    "instructions": "You greet {{company}} customers.",
    "starting_message": "Welcome to {{company}}.",
    "channel_overrides": {"telephone": {"starting_message": "{{company}}, how can I help?"}},
    "tools": [
        {
            "name": "greet",
            "description": "Greet someone by name.",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "actions": [{"type": "play_message", "message": "Hello {{name}}!"}],
        }
    ],
}


def test_sse_decoder_reassembles_frames_split_anywhere() -> None:
    stream = (
        'event: delta\ndata: {"text": "Hel"}\n\n'
        ": a comment\r\n"
        'event: delta\r\ndata: {"text": "lo"}\r\n\r\n'
        'event: done\ndata: {"ended": false,\ndata:  "model": "m"}\n\n'
    )
    for size in (1, 2, 7, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert list(events(chunks)) == [
            ("delta", {"text": "Hel"}),
            ("delta", {"text": "lo"}),
            ("done", {"ended": False, "model": "m"}),
        ], size
    decoder = SSEDecoder()
    assert decoder.feed('event: error\ndata: {"code": "x"}') == []  # not finished yet
    assert decoder.close() == [("error", {"code": "x"})]  # a stream cut before the blank line
    assert list(events(["data: plain text\n\n"])) == [("message", "plain text")]


@pytest.fixture
async def sdk(app_client: httpx.AsyncClient, tenant: Tenant) -> AsyncIterator[AsyncClient]:
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with AsyncClient(IN_PROCESS_URL, tenant.api_key, transport=transport) as client:
        yield client


def names(turn: list[TurnEvent]) -> list[str]:
    return [event.event for event in turn]


async def test_async_conversation_with_a_tool_call(
    sdk: AsyncClient, tenant: Tenant, llm: StubLLMServer
) -> None:
    agent = await tenant.create_agent(name="Greeter")
    await tenant.create_version(agent["id"], config=GREETER)
    started = await sdk.conversations.start(
        agent["id"], version="latest", variables={"company": "Acme"}
    )
    assert isinstance(started, LiveConversationRead)
    assert (started.status, started.channel, started.version) == ("in_progress", "text", 1)
    assert started.starting_message == "Welcome to Acme."

    llm.script.extend(
        [Scripted(tool_calls=[ScriptedCall("greet", {"name": "Ann"})]), Scripted(text="Done, Ann.")]
    )
    turn = [event async for event in sdk.conversations.send(started.id, "Greet Ann please")]
    assert all(isinstance(event, TurnEvent) for event in turn)
    assert names(turn)[0] == "tool_call" and names(turn)[-1] == "done"
    call = turn[0].data
    assert (call["name"], call["arguments"]) == ("greet", {"name": "Ann"})
    actions = [event.data for event in turn if event.event == "action"]
    assert actions == [{"type": "play_message", "message": "Hello Ann!"}]
    result = next(event.data for event in turn if event.event == "tool_result")
    assert result["name"] == "greet" and result["is_error"] is False
    text = "".join(event.data["text"] for event in turn if event.event == "delta")
    done = turn[-1].data
    assert done["message"]["content"] == text and text.endswith("Done, Ann.")
    assert done["ended"] is False and done["model"] == started.model != "offline"
    assert done["message"]["tool_calls"][0]["name"] == "greet"
    # The user's text reached the model.
    assert "Greet Ann please" in str(llm.requests[0].body["messages"])

    llm.script.append(Scripted(text="Anything else?"))
    whole = await sdk.conversations.turn(started.id, "Thanks")
    assert isinstance(whole, TurnRead) and whole.message["content"] == "Anything else?"
    assert [e.event for e in whole.events][-1] == "done" and whole.usage["completion_tokens"] == 7

    ended = await sdk.conversations.end(started.id)
    assert (ended.status, ended.ended_reason) == ("completed", "ended_by_user")
    with pytest.raises(Conflict) as refused:
        [event async for event in sdk.conversations.send(started.id, "Hello?")]
    assert refused.value.code == "conversation_ended"
    with pytest.raises(Conflict):
        await sdk.conversations.end(started.id)


async def test_async_start_errors(sdk: AsyncClient, tenant: Tenant) -> None:
    with pytest.raises(NotFound):
        await sdk.conversations.start(uuid.uuid4())
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config=GREETER)
    with pytest.raises(Conflict) as not_live:  # only a draft: `live` has nothing to run
        await sdk.conversations.start(agent["id"])
    assert not_live.value.code == "agent_not_live"
    with pytest.raises(ValidationFailed):  # {{company}} names nothing
        await sdk.conversations.start(agent["id"], version="latest")
    with pytest.raises(ValidationFailed):
        await sdk.conversations.start(agent["id"], version="latest", channel="phone")
    with pytest.raises(NotFound):
        [event async for event in sdk.conversations.send(uuid.uuid4(), "Hi")]


@pytest.fixture
def real_sdk(server_url: str, tenant: Tenant) -> Iterator[Client]:
    with Client(server_url, tenant.api_key, backoff=0.01) as client:
        yield client


async def test_sync_conversation_streams_over_a_real_socket(
    real_sdk: Client, tenant: Tenant
) -> None:
    """A real `callplane serve` (no model configured: the offline responder) over HTTP."""
    agent = await tenant.create_agent(name="Front desk")
    await tenant.create_version(agent["id"], config=GREETER)
    assert (await tenant.publish(agent["id"], 1)).status_code == 200

    started = real_sdk.conversations.start(
        agent["id"], channel="telephone", variables={"company": "Acme"}
    )
    assert started.model == "offline" and started.channel == "telephone"
    assert started.starting_message == "Acme, how can I help?"  # the telephone override

    stream = real_sdk.conversations.send(started.id, "What are your hours?")
    assert isinstance(stream, Iterator)
    turn = list(stream)
    assert names(turn)[-1] == "done" and "delta" in names(turn)
    done: dict[str, Any] = turn[-1].data
    assert done["model"] == "offline"
    assert done["message"]["content"].startswith("[Offline responder")
    text = "".join(event.data["text"] for event in turn if event.event == "delta")
    assert text == done["message"]["content"]

    whole = real_sdk.conversations.turn(started.id, "Thanks")
    assert whole.model == "offline" and whole.ended is False
    transcript = real_sdk.conversations.get(started.id)
    assert transcript.transcript is not None
    roles = [entry["role"] for entry in transcript.transcript]
    assert roles == ["agent", "user", "agent", "user", "agent"]

    ended = real_sdk.conversations.end(started.id)
    assert ended.ended_reason == "ended_by_user"
    with pytest.raises(Conflict):
        list(real_sdk.conversations.send(started.id, "Still there?"))
