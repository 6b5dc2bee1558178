"""Live conversations: start, stream a turn, end; the offline responder; stats; bad input."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from callplane.conversations.live import LiveRuntime
from callplane.db.engine import Database
from callplane.llm import OpenAICompatibleProvider
from callplane.models import AgentVersion
from tests.conversations.conftest import agent_with, parse_sse, say, start, transcript
from tests.factories import Tenant
from tests.support.llm_stub import Scripted, StubLLMServer, user_text


async def stats(tenant: Tenant, agent_id: str) -> dict:
    response = await tenant.get(f"/core/agents/{agent_id}")
    assert response.status_code == 200
    return response.json()["conversation_stats"]


async def test_a_turn_streams_the_model_answer_and_is_recorded(
    tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id, _ = await agent_with(
        tenant,
        {
            "instructions": "You help {{company}} callers. Conversation {{conversation.id}}.",
            "starting_message": "Hi, this is {{company}}.",
            "llm": {"model": "m-1", "temperature": 0.2, "max_tokens": 99},
            "channel_overrides": {"text": {"instructions": "Be brief in chat."}},
        },
    )
    started = await start(tenant, agent_id, version="latest", variables={"company": "Acme"})
    assert started["starting_message"] == "Hi, this is Acme."
    assert started["status"] == "in_progress" and started["version"] == 1
    llm.script.append(Scripted(text="We open at nine tomorrow."))

    events = await say(tenant, started["id"], "When do you open?")

    names = [name for name, _ in events]
    assert names[-1] == "done" and names.count("delta") == 5
    assert "".join(data["text"] for name, data in events if name == "delta") == (
        "We open at nine tomorrow."
    )
    done = events[-1][1]
    assert done["message"]["content"] == "We open at nine tomorrow."
    assert done["ended"] is False and done["model"] == "m-1"
    assert done["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    request = llm.requests[-1].body
    assert request["model"] == "m-1" and request["temperature"] == 0.2
    assert request["max_tokens"] == 99
    system = request["messages"][0]
    assert system["role"] == "system"
    assert system["content"] == (
        f"You help Acme callers. Conversation {started['id']}.\n\nBe brief in chat."
    )
    assert request["messages"][1] == {"role": "assistant", "content": "Hi, this is Acme."}
    assert user_text(request) == "When do you open?"

    read = await transcript(tenant, started["id"])
    roles = [(entry["role"], entry["content"]) for entry in read["transcript"]]
    assert roles == [
        ("agent", "Hi, this is Acme."),
        ("user", "When do you open?"),
        ("agent", "We open at nine tomorrow."),
    ]
    assert read["turns"] == 1 and read["status"] == "in_progress"

    # The second turn sends the history.
    llm.script.append(Scripted(text="Yes."))
    await say(tenant, started["id"], "Saturday too?")
    history = [(m["role"], m["content"]) for m in llm.requests[-1].body["messages"][1:]]
    assert history == [
        ("assistant", "Hi, this is Acme."),
        ("user", "When do you open?"),
        ("assistant", "We open at nine tomorrow."),
        ("user", "Saturday too?"),
    ]


async def test_json_answer_when_asked(tenant: Tenant, llm: StubLLMServer) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    started = await start(tenant, agent_id, version="latest")
    llm.script.append(Scripted(text="Sure thing."))
    response = await tenant.post(
        f"/core/conversations/{started['id']}/messages",
        json={"content": "Hello"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"]["content"] == "Sure thing."
    assert body["events"][-1]["event"] == "done"
    assert [e["event"] for e in body["events"]].count("delta") == 2
    assert body["ended"] is False and body["model"] == "gpt-4o-mini"


async def test_offline_responder_labels_itself_and_calls_no_model(tenant: Tenant) -> None:
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Help.", "starting_message": "Welcome to Acme."}
    )
    started = await start(tenant, agent_id, version="latest")
    assert started["model"] == "offline"
    events = await say(tenant, started["id"], "What are your prices?")
    done = events[-1][1]
    assert done["model"] == "offline"
    assert done["message"]["content"].startswith("[Offline responder")
    assert "Welcome to Acme." in done["message"]["content"]
    assert not [name for name, _ in events if name in ("tool_call", "knowledge")]


async def test_end_moves_the_stats_and_refuses_more_turns(tenant: Tenant) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    started = await start(tenant, agent_id, version="latest")
    before = await stats(tenant, agent_id)
    assert before["total"] == 1 and before["by_status"] == {"in_progress": 1}
    ended = await tenant.post(f"/core/conversations/{started['id']}/end")
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["status"] == "completed" and body["ended_reason"] == "ended_by_user"
    assert body["duration_seconds"] is not None
    after = await stats(tenant, agent_id)
    assert after["total"] == 1
    assert after["by_status"].get("in_progress", 0) == 0 and after["by_status"]["completed"] == 1
    again = await tenant.post(f"/core/conversations/{started['id']}/end")
    assert again.status_code == 409 and again.json()["code"] == "conversation_ended"
    turn = await tenant.post(
        f"/core/conversations/{started['id']}/messages", json={"content": "hello?"}
    )
    assert turn.status_code == 409 and turn.json()["code"] == "conversation_ended"


async def test_bad_input_is_refused_and_changes_nothing(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Hello {{name}}."})
    # unknown template name
    response = await tenant.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest"}
    )
    assert response.status_code == 422, response.text
    # not published, version missing
    response = await tenant.post(f"/core/agents/{agent_id}/conversations", json={})
    assert response.status_code == 409 and response.json()["code"] == "agent_not_live"
    response = await tenant.post(
        f"/core/agents/{agent_id}/conversations", json={"version": 7, "variables": {"name": "x"}}
    )
    assert response.status_code == 404 and response.json()["code"] == "version_not_found"
    # another organization's agent, bad channel
    response = await other_tenant.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest"}
    )
    assert response.status_code == 404
    response = await tenant.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest", "channel": "chat"}
    )
    assert response.status_code == 422
    assert (await stats(tenant, agent_id))["total"] == 0

    started = await start(tenant, agent_id, version="latest", variables={"name": "Ann"})
    url = f"/core/conversations/{started['id']}/messages"
    assert (await other_tenant.post(url, json={"content": "hi"})).status_code == 404
    too_long = await tenant.post(url, json={"content": "x" * 8001})
    assert too_long.status_code == 422 and too_long.json()["code"] == "message_too_long"
    assert (await tenant.post(url, json={"content": ""})).status_code == 422
    unknown = "/core/conversations/00000000-0000-0000-0000-000000000000/messages"
    assert (await tenant.post(unknown, json={"content": "hi"})).status_code == 404
    assert (await transcript(tenant, started["id"]))["turns"] == 0


async def test_scopes(tenant: Tenant) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    reader = await tenant.key_with("conversations:read", "agents:read")
    response = await tenant.client.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest"}, headers=reader
    )
    assert response.status_code == 403
    manager = await tenant.key_with("conversations:manage")
    response = await tenant.client.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest"}, headers=manager
    )
    assert response.status_code == 201
    turn = await tenant.client.post(
        f"/core/conversations/{response.json()['id']}/messages",
        json={"content": "hi"},
        headers=manager,
    )
    assert turn.status_code == 200
    assert parse_sse(turn.text)[-1][0] == "done"


@pytest.mark.parametrize("status", [500, 400])
async def test_llm_errors_become_an_error_event(
    tenant: Tenant, llm: StubLLMServer, status: int
) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    started = await start(tenant, agent_id, version="latest")
    llm.script.append(Scripted(fail_status=status))
    events = await say(tenant, started["id"], "Hello?")
    names = [name for name, _ in events]
    assert names == ["error", "done"]
    code = events[0][1]["code"]
    assert code == ("llm_unavailable" if status == 500 else "llm_request_rejected")
    read = await transcript(tenant, started["id"])
    assert read["status"] == "in_progress"
    assert read["transcript"][-1]["event"]["code"] == code


async def test_a_hanging_model_times_out(
    tenant: Tenant, llm: StubLLMServer, live_runtime: LiveRuntime
) -> None:
    # The `llm` fixture's 5 s leaves answering stubs room on a loaded machine; a model that never
    # answers needs none, so this test waits 1 s for its timeout rather than 5.
    provider = OpenAICompatibleProvider(
        llm.base_url, "sk-test", "stub-model", timeout_seconds=1.0, max_retries=0
    )
    live_runtime.model = provider
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    started = await start(tenant, agent_id, version="latest")
    llm.script.append(Scripted(hang=True))
    events = await say(tenant, started["id"], "Hello?")
    assert [name for name, _ in events] == ["error", "done"]
    assert events[0][1]["code"] == "llm_timeout"
    await provider.aclose()


async def test_a_version_that_cannot_run_is_refused(tenant: Tenant, database: Database) -> None:
    agent_id, version = await agent_with(tenant, {"instructions": "Help."})
    conversation = await start(tenant, agent_id, version="latest")
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(AgentVersion)
            .where(AgentVersion.id == uuid.UUID(version["id"]))
            .values(config={"instructions": 42, "unknown_key": True})
        )
    turn = await tenant.post(
        f"/core/conversations/{conversation['id']}/messages", json={"content": "hi"}
    )
    assert turn.status_code == 422 and turn.json()["code"] == "config_not_runnable"
    started = await tenant.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest"}
    )
    assert started.status_code == 422 and started.json()["code"] == "config_not_runnable"
    assert (await transcript(tenant, conversation["id"]))["turns"] == 0


async def test_start_and_end_are_audited(tenant: Tenant) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    conversation = await start(tenant, agent_id, version="latest", channel="telephone")
    await tenant.post(f"/core/conversations/{conversation['id']}/end")
    response = await tenant.get(
        "/core/audit-events",
        params={"resource_type": "conversation", "resource_id": conversation["id"]},
    )
    events = {event["action"]: event for event in response.json()["data"]}
    assert events["conversation.started"]["changes"]["channel"] == "telephone"
    assert events["conversation.ended"]["changes"]["reason"] == "ended_by_user"
    assert events["conversation.ended"]["actor"]["type"] in ("api_key", "user")
