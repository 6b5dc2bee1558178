"""Tool calls in live conversations: http_request through the SSRF guard, argument validation,
chained calls, the tool-step budget, and the actions that end or hand off a conversation."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from callplane.conversations.live import LiveRuntime, run_turn
from callplane.runtime import GuardedHttp
from tests.conversations.conftest import agent_with, say, start, transcript
from tests.factories import Tenant
from tests.support.llm_stub import Scripted, ScriptedCall, StubLLMServer
from tests.support.loopback import LoopbackServer


@dataclass
class Api:
    """A local JSON API: records requests, answers `{"temperature": 21, "echo": <path>}`."""

    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    big: bool = False
    server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            with lock:
                state.requests.append((self.command, self.path, self.rfile.read(length)))
            if self.path.startswith("/missing"):
                body = b'{"error": "no such city"}'
                self.send_response(404)
            elif state.big:
                body = b'"' + b"x" * 400_000 + b'"'
                self.send_response(200)
            else:
                body = json.dumps({"temperature": 21, "echo": self.path}).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    state.server = LoopbackServer(Handler)
    yield state
    state.server.close()


def weather_tool(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "properties": {"city": {"type": "string", "minLength": 2}},
        "required": ["city"],
        "actions": [
            {
                "type": "http_request",
                "url": url + "/weather?city={{city}}",
                "timeout_seconds": 5,
            }
        ],
        "output": "It is {{response.temperature}} degrees in {{city}}.",
        **extra,
    }


def events_named(events: list[tuple[str, dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    return [data for event, data in events if event == name]


async def test_a_tool_call_runs_its_http_request_and_the_model_answers(
    tenant: Tenant, llm: StubLLMServer, api: Api
) -> None:
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Weather bot.", "tools": [weather_tool(api.url)]}
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("get_weather", {"city": "São Paulo"}, id="c1")]),
            Scripted(text="It is 21 degrees."),
        ]
    )
    events = await say(tenant, conversation["id"], "Weather in São Paulo?")

    names = [name for name, _ in events]
    assert names[:2] == ["tool_call", "tool_result"] and names[-1] == "done"
    assert events_named(events, "tool_call") == [
        {"id": "c1", "name": "get_weather", "arguments": {"city": "São Paulo"}}
    ]
    [result] = events_named(events, "tool_result")
    assert result == {
        "id": "c1",
        "name": "get_weather",
        "content": "It is 21 degrees in São Paulo.",
        "is_error": False,
    }
    assert api.requests == [("GET", "/weather?city=S%C3%A3o%20Paulo", b"")]
    # The model saw the tool schema, then its call and the result.
    first, second = llm.requests[-2].body, llm.requests[-1].body
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert first["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert second["messages"][-2]["tool_calls"][0]["id"] == "c1"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "It is 21 degrees in São Paulo.",
    }
    done = events[-1][1]
    assert done["message"]["tool_calls"] == [
        {"id": "c1", "name": "get_weather", "arguments": {"city": "São Paulo"}}
    ]
    entries = (await transcript(tenant, conversation["id"]))["transcript"]
    assert [entry["role"] for entry in entries] == ["user", "agent", "tool", "agent"]
    assert entries[1]["tool_calls"][0]["name"] == "get_weather"
    assert entries[2]["tool_call_id"] == "c1"

    # The next turn replays the tool exchange to the model, in order.
    llm.script.append(Scripted(text="Bye."))
    await say(tenant, conversation["id"], "Thanks")
    roles = [m["role"] for m in llm.requests[-1].body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]


async def test_chained_calls_and_bad_arguments_go_back_to_the_model(
    tenant: Tenant, llm: StubLLMServer, api: Api
) -> None:
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Weather bot.", "tools": [weather_tool(api.url)]}
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("get_weather", '{"city": "Par', id="bad-json")]),
            Scripted(tool_calls=[ScriptedCall("get_weather", {"town": "Paris"}, id="bad-schema")]),
            Scripted(
                tool_calls=[
                    ScriptedCall("get_weather", {"city": "Paris"}, id="a"),
                    ScriptedCall("get_weather", {"city": "Oslo"}, id="b"),
                ]
            ),
            Scripted(tool_calls=[ScriptedCall("no_such_tool", {}, id="ghost")]),
            Scripted(text="Paris 21, Oslo 21."),
        ]
    )
    events = await say(tenant, conversation["id"], "Paris and Oslo?")
    results = {r["id"]: r for r in events_named(events, "tool_result")}
    assert results["bad-json"]["is_error"] and "not valid JSON" in results["bad-json"]["content"]
    assert results["bad-schema"]["is_error"]
    assert "'city' is a required property" in results["bad-schema"]["content"]
    assert not results["a"]["is_error"] and not results["b"]["is_error"]
    assert results["ghost"]["is_error"] and "Unknown tool" in results["ghost"]["content"]
    assert len(api.requests) == 2  # only the valid calls reached the API
    assert events[-1][1]["message"]["content"] == "Paris 21, Oslo 21."
    assert len(llm.requests) == 5


async def test_the_tool_step_budget_is_enforced(
    tenant: Tenant, llm: StubLLMServer, api: Api
) -> None:
    agent_id, _ = await agent_with(
        tenant,
        {
            "instructions": "Weather bot.",
            "tools": [weather_tool(api.url)],
            "max_tool_steps": 5,
            "channel_overrides": {"text": {"max_tool_steps": 2}},  # the channel's wins
        },
    )
    conversation = await start(tenant, agent_id, version="latest")
    call = ScriptedCall("get_weather", {"city": "Rome"})
    llm.script.extend(
        [
            Scripted(tool_calls=[call]),
            Scripted(tool_calls=[call, call]),  # the second is over the budget
            Scripted(text="Rome is warm."),  # asked without tools
        ]
    )
    events = await say(tenant, conversation["id"], "Rome?")
    results = events_named(events, "tool_result")
    assert [r["is_error"] for r in results] == [False, False, True]
    assert "budget of 2 tool steps" in results[-1]["content"]
    assert len(api.requests) == 2
    assert "tools" not in llm.requests[-1].body
    assert events[-1][1]["message"]["content"] == "Rome is warm."

    # A model that calls tools anyway once they are withdrawn: an error, the turn ends.
    llm.script.extend(
        [Scripted(tool_calls=[call]), Scripted(tool_calls=[call]), Scripted(tool_calls=[call])]
    )
    events = await say(tenant, conversation["id"], "Again?")
    assert events_named(events, "error")[0]["code"] == "max_tool_steps_exceeded"
    assert events[-1][0] == "done"


async def test_http_errors_run_the_error_actions(
    tenant: Tenant, llm: StubLLMServer, api: Api
) -> None:
    tool = weather_tool(
        api.url.replace("127.0.0.1", "127.0.0.1") + "/missing",
        actions_on_error=[{"type": "play_message", "message": "Sorry, {{city}} is unknown."}],
    )
    agent_id, _ = await agent_with(tenant, {"instructions": "Weather bot.", "tools": [tool]})
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("get_weather", {"city": "Atlantis"})]),
            Scripted(text=""),
        ]
    )
    events = await say(tenant, conversation["id"], "Atlantis?")
    [result] = events_named(events, "tool_result")
    assert result["is_error"] and "answered 404" in result["content"]
    assert events_named(events, "action") == [
        {"type": "play_message", "message": "Sorry, Atlantis is unknown."}
    ]
    assert events[-1][1]["message"]["content"] == "Sorry, Atlantis is unknown."


async def test_http_requests_to_loopback_are_refused_without_private_networks(
    tenant: Tenant, llm: StubLLMServer, api: Api, live_runtime: LiveRuntime
) -> None:
    live_runtime.http = GuardedHttp(allow_private_networks=False)
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Weather bot.", "tools": [weather_tool(api.url)]}
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("get_weather", {"city": "Rome"})]),
            Scripted(text="I could not check."),
        ]
    )
    events = await say(tenant, conversation["id"], "Rome?")
    [result] = events_named(events, "tool_result")
    assert result["is_error"]
    assert "blocked_address" in result["content"]
    assert "private networks are not allowed" in result["content"]
    assert api.requests == []


async def test_oversized_responses_are_refused(
    tenant: Tenant, llm: StubLLMServer, api: Api, live_runtime: LiveRuntime
) -> None:
    live_runtime.http = GuardedHttp(allow_private_networks=True, max_bytes=100_000)
    api.big = True
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Weather bot.", "tools": [weather_tool(api.url)]}
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend(
        [Scripted(tool_calls=[ScriptedCall("get_weather", {"city": "Rome"})]), Scripted(text="x")]
    )
    events = await say(tenant, conversation["id"], "Rome?")
    [result] = events_named(events, "tool_result")
    assert result["is_error"] and "response_too_large" in result["content"]


@pytest.mark.parametrize(
    ("action", "reason", "details"),
    [
        ({"type": "hangup"}, "hangup", {}),
        (
            {"type": "cold_transfer", "phone_number": "+14155550100"},
            "cold_transfer",
            {"phone_number": "+14155550100", "sip_uri": None},
        ),
        (
            {"type": "warm_transfer", "sip_uri": "sip:desk@example.com"},
            "warm_transfer",
            {
                "phone_number": None,
                "sip_uri": "sip:desk@example.com",
                "summary_prompt": None,
                "ring_timeout_seconds": 30,
            },
        ),
    ],
)
async def test_ending_actions_end_the_conversation(
    tenant: Tenant,
    llm: StubLLMServer,
    action: dict[str, Any],
    reason: str,
    details: dict[str, Any],
) -> None:
    tool = {"name": "finish", "description": "End or hand off.", "actions": [action]}
    agent_id, _ = await agent_with(tenant, {"instructions": "Help.", "tools": [tool]})
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.append(Scripted(text="One moment.", tool_calls=[ScriptedCall("finish")]))
    events = await say(tenant, conversation["id"], "A human please")
    assert events_named(events, "action") == [{"type": reason, **details}]
    done = events[-1][1]
    assert done["ended"] is True and done["ended_reason"] == reason
    assert len(llm.requests) == 1  # no model call after the conversation ended
    read = await transcript(tenant, conversation["id"])
    assert read["status"] == "completed" and read["ended_reason"] == reason
    assert any(entry.get("event", {}).get("type") == reason for entry in read["transcript"])
    agent = (await tenant.get(f"/core/agents/{agent_id}")).json()
    assert agent["conversation_stats"]["by_status"] == {"completed": 1}
    again = await tenant.post(
        f"/core/conversations/{conversation['id']}/messages", json={"content": "hello?"}
    )
    assert again.status_code == 409


async def test_dtmf_is_an_event_and_the_turn_goes_on(tenant: Tenant, llm: StubLLMServer) -> None:
    tool = {
        "name": "press",
        "description": "Navigate the menu.",
        "actions": [{"type": "dtmf", "digits": "12#"}],
    }
    agent_id, _ = await agent_with(tenant, {"instructions": "Help.", "tools": [tool]})
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend([Scripted(tool_calls=[ScriptedCall("press")]), Scripted(text="Done.")])
    events = await say(tenant, conversation["id"], "Press it")
    assert events_named(events, "action") == [{"type": "dtmf", "digits": "12#"}]
    assert events[-1][1]["ended"] is False


async def test_end_phrases_end_the_conversation_without_the_model(
    tenant: Tenant, llm: StubLLMServer
) -> None:
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Help.", "end_call": {"end_phrases": ["goodbye now"]}}
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.append(Scripted(text="Anything else?"))
    await say(tenant, conversation["id"], "Goodbye, nowhere to go")  # not the phrase
    events = await say(tenant, conversation["id"], "OK, GOODBYE NOW!")
    assert events_named(events, "action") == [{"type": "end_phrase", "phrase": "goodbye now"}]
    assert events[-1][1]["ended_reason"] == "end_phrase"
    assert len(llm.requests) == 1
    read = await transcript(tenant, conversation["id"])
    assert read["status"] == "completed" and read["ended_reason"] == "end_phrase"


async def test_tool_mocks_answer_http_requests_without_network(
    tenant: Tenant, llm: StubLLMServer, live_runtime: LiveRuntime, client: Any
) -> None:
    agent_id, _ = await agent_with(
        tenant,
        {"instructions": "Weather bot.", "tools": [weather_tool("http://198.51.100.1:9")]},
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.extend(
        [
            Scripted(tool_calls=[ScriptedCall("get_weather", {"city": "Lima"})]),
            Scripted(text="Mocked."),
        ]
    )
    events = [
        (event.event, event.data())
        async for event in run_turn(
            client.app.state.database,
            live_runtime,
            tenant.organization_id,
            uuid.UUID(conversation["id"]),
            "Lima?",
            tool_mocks={"get_weather": {"status": 200, "body": {"temperature": -3}}},
        )
    ]
    [result] = events_named(events, "tool_result")
    assert result["content"] == "It is -3 degrees in Lima."
