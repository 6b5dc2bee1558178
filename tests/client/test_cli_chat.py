"""`callplane chat` (in-process, a scripted local model): scripted turns with the transcript and
with --json, piped interactive turns, JSON lines, an agent that hangs up, and the exit codes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.factories import Tenant
from tests.support.cli import Cli
from tests.support.llm_stub import Scripted, ScriptedCall, StubLLMServer

CONFIG: dict[str, Any] = {
    "instructions": "You greet {{company}} customers.",
    "starting_message": "Welcome to {{company}}.",
    "tools": [
        {
            "name": "greet",
            "description": "Greet someone by name.",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "actions": [{"type": "play_message", "message": "Hello {{name}}!"}],
        },
        {
            "name": "goodbye",
            "description": "End the call.",
            "actions": [{"type": "hangup"}],
        },
    ],
}


async def draft_agent(tenant: Tenant) -> str:
    agent = await tenant.create_agent(name="Greeter")
    await tenant.create_version(agent["id"], config=CONFIG)
    return str(agent["id"])


async def conversation(tenant: Tenant, agent_id: str) -> dict[str, Any]:
    listed = await tenant.get(f"/core/conversations?agent_id={agent_id}")
    [found] = listed.json()["data"]
    full = await tenant.get(f"/core/conversations/{found['id']}")
    return dict(full.json())


async def test_scripted_turns_show_tools_and_actions_as_they_happen(
    cli: Cli, tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id = await draft_agent(tenant)
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("greet", {"name": "Ann"})]),
            Scripted(text="Done, Ann."),
            Scripted(text="Bye now."),
        ]
    )
    result = await cli(
        "chat", agent_id, "--version", "latest", "--var", "company=Acme",
        "-m", "Greet Ann", "-m", "Thanks",
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[conversation ") and "version 1, channel text" in lines[0]
    assert lines[1] == "agent> Welcome to Acme."
    assert lines[2] == "you> Greet Ann"
    assert lines[3] == '  ↳ tool greet({"name": "Ann"})'
    assert lines[4] == '  ↳ action play_message {"message": "Hello Ann!"}'
    assert lines[5] == "agent> Hello Ann!"
    assert lines[6].startswith("  ↳ greet → ")
    assert lines[7] == "agent> Done, Ann."
    assert lines[8:] == ["you> Thanks", "agent> Bye now."]
    assert result.stderr == ""
    # The chat ended the conversation it started.
    found = await conversation(tenant, agent_id)
    assert (found["status"], found["ended_reason"]) == ("completed", "ended_by_user")
    assert [entry["role"] for entry in found["transcript"]][:2] == ["agent", "user"]


async def test_scripted_json_is_one_document(cli: Cli, tenant: Tenant, llm: StubLLMServer) -> None:
    agent_id = await draft_agent(tenant)
    llm.script.extend([Scripted(text="Hi there."), Scripted(text="You are welcome.")])
    document = await cli.json(
        "chat", agent_id, "--version", "1", "--channel", "telephone", "--var", "company=Acme",
        "--message", "Hello", "--message", "Thanks",
    )  # fmt: skip
    assert document["conversation"]["channel"] == "telephone"
    assert document["conversation"]["starting_message"] == "Welcome to Acme."
    assert [turn["message"]["content"] for turn in document["turns"]] == [
        "Hi there.",
        "You are welcome.",
    ]
    assert [e["event"] for e in document["turns"][0]["events"]][-1] == "done"
    assert document["ended_reason"] == "ended_by_user"


async def test_piped_lines_are_turns_and_the_agent_may_hang_up(
    cli: Cli, tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id = await draft_agent(tenant)
    llm.script.extend([Scripted(text="Hello!"), Scripted(tool_calls=[ScriptedCall("goodbye", {})])])
    result = await cli(
        "chat", agent_id, "--version", "latest", "--var", "company=Acme",
        input="Hi\n\nI am done, bye\nnever sent\n",
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[1:4] == ["agent> Welcome to Acme.", "you> Hi", "agent> Hello!"]
    assert lines[4:7] == ["you> I am done, bye", "  ↳ tool goodbye({})", "  ↳ action hangup"]
    assert lines[-1] == "[conversation ended: hangup]"
    assert "never sent" not in result.stdout
    found = await conversation(tenant, agent_id)
    assert found["ended_reason"] == "hangup"
    assert len(llm.requests) == 2  # the line after the hangup was not sent


async def test_json_lines_when_chatting_with_json(
    cli: Cli, tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id = await draft_agent(tenant)
    llm.script.append(Scripted(text="Hello!"))
    result = await cli(
        "chat", agent_id, "--version", "latest", "--var", "company=Acme", "--json",
        input="Hi\n/end\nnot sent\n",
    )  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[:2] == ["started", "user"] and kinds[-2:] == ["done", "ended"]
    assert set(kinds[2:-2]) == {"delta"}
    assert events[0]["data"]["starting_message"] == "Welcome to Acme."
    assert events[-1]["data"]["ended_reason"] == "ended_by_user"


async def test_exit_codes(cli: Cli, tenant: Tenant, llm: StubLLMServer) -> None:
    agent_id = await draft_agent(tenant)
    missing = await cli("chat", str(uuid.uuid4()), "-m", "Hi", expect=3)
    assert missing.stderr.startswith("agent_not_found: ")
    not_live = await cli("chat", agent_id, "-m", "Hi", expect=4)  # only a draft
    assert not_live.stderr.startswith("agent_not_live: ")
    await cli("chat", agent_id, "--var", "no-equals-sign", "-m", "Hi", expect=2)
    await cli("chat", agent_id, "--channel", "phone", "-m", "Hi", expect=2)
    await cli("chat", agent_id, "--version", "0", "-m", "Hi", expect=2)
    unknown = await cli("chat", agent_id, "--version", "latest", "-m", "Hi", expect=1)
    assert unknown.stderr.startswith("unprocessable: ")  # {{company}} has no value

    llm.script.append(Scripted(fail_status=400))
    failed = await cli(
        "chat", agent_id, "--version", "latest", "--var", "company=Acme", "-m", "Hi", expect=1
    )
    assert failed.stderr.startswith("error: llm_request_rejected: ")
    assert "agent> Welcome to Acme." in failed.stdout
