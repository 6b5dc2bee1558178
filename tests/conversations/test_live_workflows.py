"""Pre/post conversation workflows and `workflow` tool actions run as durable workflows that
POST the conversation's data to their URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from tests.conversations.conftest import agent_with, say, start
from tests.factories import Tenant
from tests.support.llm_stub import Scripted, ScriptedCall, StubLLMServer
from tests.support.receiver import Receiver


async def _wait_for(receiver: Receiver, count: int) -> None:
    for _ in range(1000):
        if len(receiver.requests) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(receiver.requests)} requests, expected {count}")


async def test_pre_post_and_tool_workflows_post_the_conversation(
    tenant: Tenant, llm: StubLLMServer, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    base = f"http://127.0.0.1:{receiver.port}"
    tool = {
        "name": "crm",
        "description": "Save the lead.",
        "properties": {"email": {"type": "string"}},
        "required": ["email"],
        "actions": [{"type": "workflow", "url": f"{base}/tool"}],
    }
    agent_id, _ = await agent_with(
        tenant,
        {
            "instructions": "Help.",
            "tools": [tool],
            "pre_conversation_workflow": {"url": f"{base}/pre"},
            "post_conversation_workflow": {"url": f"{base}/post"},
        },
    )
    conversation = await start(tenant, agent_id, version="latest", variables={"plan": "gold"})
    await _wait_for(receiver, 1)
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("crm", {"email": "a@b.test"}, id="t1")]),
            Scripted(text="Saved."),
        ]
    )
    events = await say(tenant, conversation["id"], "My email is a@b.test")
    [result] = [data for name, data in events if name == "tool_result"]
    assert json.loads(result["content"])["workflow"]["status"] == "started"
    await _wait_for(receiver, 2)
    ended = await tenant.post(f"/core/conversations/{conversation['id']}/end")
    assert ended.status_code == 200
    await _wait_for(receiver, 3)

    by_path = {request.path: json.loads(request.body) for request in receiver.requests}
    assert by_path["/pre"]["event"] == "conversation.started"
    assert by_path["/pre"]["variables"] == {"plan": "gold"}
    assert by_path["/tool"]["data"]["email"] == "a@b.test"
    assert by_path["/tool"]["conversation_id"] == conversation["id"]
    post = by_path["/post"]
    assert post["event"] == "conversation.ended" and post["ended_reason"] == "ended_by_user"
    assert [entry["role"] for entry in post["transcript"]] == ["user", "agent", "tool", "agent"]
    headers = {request.path: request.headers for request in receiver.requests}
    assert headers["/post"]["callplane-workflow-id"] == f"conversation-{conversation['id']}-post"
