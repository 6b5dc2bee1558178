"""Test runs end to end: the DBOS workflow, the engine with tool mocks, every expectation kind
passing and failing, the simulated caller and the judge played by the local stub model, the
offline skips, and the gate opened by a real run."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from callplane.agenttests import runner
from callplane.conversations.live import LiveRuntime
from callplane.llm import OpenAICompatibleProvider
from callplane.workflows.runtime import runtime
from tests.agenttests.helpers import create_test
from tests.factories import Tenant
from tests.support.llm_stub import Scripted, ScriptedCall, StubLLMServer
from tests.workflows.helpers import wait_for_workflow

CLOSED = "http://127.0.0.1:9/never"  # nothing listens: only a mock can answer
BOOK = {
    "name": "book",
    "description": "Book a slot.",
    "properties": {"slot": {"type": "string"}},
    "actions": [{"type": "http_request", "url": CLOSED, "method": "POST"}],
}
HANGUP = {"name": "goodbye", "description": "End the call.", "actions": [{"type": "hangup"}]}
TRANSFER = {
    "name": "to_desk",
    "description": "Transfer to the desk.",
    "actions": [{"type": "cold_transfer", "phone_number": "+14155550100"}],
}
CONFIG = {
    "instructions": "Book dental cleanings.",
    "starting_message": "Welcome to Acme Dental.",
    "tools": [BOOK, HANGUP, TRANSFER],
}


async def run_and_wait(
    tenant: Tenant, agent_id: str, version: int, within: float = 120.0, **body: Any
) -> dict[str, Any]:
    started = await tenant.post(
        f"/core/agents/{agent_id}/versions/{version}/test-runs", json=body or None
    )
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] == "queued" and run["workflow_id"]
    deadline = time.monotonic() + within
    while True:
        response = await tenant.get(f"/core/test-runs/{run['id']}")
        assert response.status_code == 200, response.text
        body_ = response.json()
        if body_["status"] not in ("queued", "running"):
            return dict(body_)
        assert time.monotonic() < deadline, body_
        await asyncio.sleep(0.05)


def by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {result["name"]: result for result in run["results"]}


def statuses(result: dict[str, Any]) -> list[str]:
    return [verdict["status"] for verdict in result["expectations"]]


def last_user(body: dict[str, Any]) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    return str(users[-1]["content"]) if users else ""


def system_of(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"]) if body["messages"] else ""


@pytest.fixture
async def model(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StubLLMServer]:
    """The local stub plays the agent (through the app's live runtime, pinned for the runner),
    the simulated caller and the judge (through the runtime's settings)."""
    server = StubLLMServer()
    server.start()
    live: LiveRuntime = client.app.state.live_runtime  # type: ignore[attr-defined]
    saved = live.model
    provider = OpenAICompatibleProvider(
        server.base_url, "sk-test", "stub-model", timeout_seconds=5.0, max_retries=0
    )
    live.model = provider
    runner.pin_live_runtime(live)
    monkeypatch.setattr(
        runtime(),
        "settings",
        runtime().settings.model_copy(
            update={"llm_base_url": server.base_url, "llm_api_key": "sk-test"}
        ),
    )
    yield server
    live.model = saved
    runner.pin_live_runtime(None)
    await provider.aclose()
    server.stop()


@pytest.fixture
def offline(client: httpx.AsyncClient) -> AsyncIterator[None]:
    live: LiveRuntime = client.app.state.live_runtime  # type: ignore[attr-defined]
    runner.pin_live_runtime(live)
    yield None
    runner.pin_live_runtime(None)


def agent_script(body: dict[str, Any]) -> Scripted:
    """The agent's side: tools when asked, text after a tool result."""
    system = system_of(body)
    if "role-playing" in system:  # the simulated caller
        said = [m for m in body["messages"] if m["role"] == "assistant"]
        return Scripted(text="I'd like a cleaning at 9:00." if not said else "[END]")
    if "grade a conversation" in system:  # the judge
        rubric_ok = "polite" in last_user(body).lower()
        return Scripted(
            text=json.dumps(
                {"passed": rubric_ok, "score": 1 if rubric_ok else 0, "reasoning": "stub judge"}
            )
        )
    if body["messages"][-1]["role"] == "tool":
        return Scripted(text="Booked you at 9:00.")
    said = last_user(body).lower()
    if "9:00" in said:
        return Scripted(tool_calls=[ScriptedCall("book", {"slot": "9:00"})])
    if "bye" in said:
        return Scripted(tool_calls=[ScriptedCall("goodbye", {})])
    if "human" in said:
        return Scripted(tool_calls=[ScriptedCall("to_desk", {})])
    return Scripted(text="How can I help with your cleaning?")


async def test_every_expectation_kind_passes_and_fails(
    tenant: Tenant, model: StubLLMServer
) -> None:
    model.responder = agent_script
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"], config=CONFIG)
    booking = [
        {"type": "reply_contains", "text": "booked", "turn": 2},  # pass
        {"type": "reply_contains", "text": "tomorrow"},  # fail
        {"type": "reply_not_contains", "text": "sorry"},  # pass
        {"type": "reply_not_contains", "text": "9:00", "turn": 2},  # fail
        {"type": "reply_matches", "pattern": "[0-9]:[0-9]{2}"},  # pass
        {"type": "reply_matches", "pattern": "^Goodbye", "turn": 1},  # fail
        {"type": "calls_tool", "name": "book", "arguments": {"slot": "9:00"}},  # pass
        {"type": "calls_tool", "name": "book", "arguments": {"slot": "10:00"}},  # fail
        {"type": "does_not_call_tool", "name": "to_desk"},  # pass
        {"type": "does_not_call_tool", "name": "book", "turn": 2},  # fail
        {"type": "max_turns", "turns": 2},  # pass
        {"type": "max_turns", "turns": 1},  # fail
        {"type": "ends_with", "action": "hangup"},  # fail (it does not end)
        {"type": "judge", "rubric": "Polite and brief."},  # pass (the stub judge)
        {"type": "judge", "rubric": "Offers a discount."},  # fail
        {"type": "reply_contains", "text": "x", "turn": 5},  # fail: no such turn
    ]
    await create_test(
        tenant,
        agent["id"],
        name="booking",
        turns=["Hello", "Book me at 9:00 please"],
        expectations=booking,
        tool_mocks={"book": {"status": 200, "body": {"confirmed": "9:00"}}},
    )
    await create_test(
        tenant,
        agent["id"],
        name="hangs up",
        turns=["bye now", "are you there?"],
        expectations=[
            {"type": "ends_with", "action": "hangup"},
            {"type": "ends_with", "action": "transfer"},
            {"type": "max_turns", "turns": 1},
        ],
    )
    await create_test(
        tenant,
        agent["id"],
        name="transfers",
        turns=["a human please"],
        expectations=[
            {"type": "ends_with", "action": "transfer", "target": "+14155550100"},
            {"type": "ends_with", "action": "transfer", "target": "+14155550199"},
        ],
    )
    run = await run_and_wait(tenant, agent["id"], draft["version"])
    assert run["status"] == "failed"
    assert (run["passed"], run["failed"], run["skipped"], run["errors"]) == (0, 3, 0, 0)
    assert run["revision"] == draft_revision(draft) and run["version"] == draft["version"]
    results = by_name(run)
    expected = ["passed", "failed"] * 7 + ["failed", "failed"]
    expected[12] = "failed"  # ends_with hangup
    expected[13], expected[14] = "passed", "failed"  # judges
    assert statuses(results["booking"]) == expected, results["booking"]["expectations"]
    booking_result = results["booking"]
    assert booking_result["reason"].startswith("expectation 1 (reply_contains)")
    failed_args = booking_result["expectations"][7]
    assert failed_args["seen"] == [{"name": "book", "arguments": {"slot": "9:00"}}]
    assert booking_result["expectations"][13]["seen"]["reasoning"] == "stub judge"
    tool_entries = [e for e in booking_result["transcript"] if e["role"] == "tool"]
    assert "confirmed" in tool_entries[0]["content"]  # the mock answered, no network
    assert statuses(results["hangs up"]) == ["passed", "failed", "passed"]
    assert [e for e in results["hangs up"]["transcript"] if e["role"] == "user"] == [
        {"role": "user", "content": "bye now", "turn": 1}
    ]  # the conversation ended: the second turn was never said
    assert statuses(results["transfers"]) == ["passed", "failed"]

    # the workflow is a workflow like any other
    workflow = await wait_for_workflow(tenant, run["workflow_id"])
    assert workflow["type"] == "agent_test_run" and workflow["status"] == "succeeded"
    assert workflow["result"]["status"] == "failed"


def draft_revision(draft: dict[str, Any]) -> int:
    return int(draft["etag"].strip('"'))


async def test_a_simulated_caller_converses_until_done(
    tenant: Tenant, model: StubLLMServer
) -> None:
    model.responder = agent_script
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"], config=CONFIG)
    await create_test(
        tenant,
        agent["id"],
        name="simulated",
        turns=None,
        caller={"persona": "Ana, a patient.", "goal": "Book a cleaning at 9:00.", "max_turns": 4},
        expectations=[
            {"type": "calls_tool", "name": "book", "arguments": {"slot": "9:00"}},
            {"type": "max_turns", "turns": 1},
        ],
        tool_mocks={"book": {"status": 200, "body": {"ok": True}}},
    )
    run = await run_and_wait(tenant, agent["id"], draft["version"])
    [result] = run["results"]
    assert result["status"] == "passed", result
    users = [e["content"] for e in result["transcript"] if e["role"] == "user"]
    assert users == ["I'd like a cleaning at 9:00."]  # then the caller said [END]
    assert run["status"] == "passed"


async def test_offline_runs_scripted_tests_and_skips_what_needs_a_model(
    tenant: Tenant, offline: None
) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"], config=CONFIG)
    await create_test(
        tenant,
        agent["id"],
        name="scripted",
        turns=["Hello"],
        expectations=[
            {"type": "reply_contains", "text": "welcome to acme"},  # the starting message
            {"type": "reply_contains", "text": "offline responder", "turn": 1},
            {"type": "judge", "rubric": "Polite."},
        ],
    )
    await create_test(
        tenant,
        agent["id"],
        name="simulated",
        turns=None,
        caller={"persona": "p", "goal": "g"},
        expectations=[{"type": "max_turns", "turns": 3}],
    )
    run = await run_and_wait(tenant, agent["id"], draft["version"])
    results = by_name(run)
    assert statuses(results["scripted"]) == ["passed", "passed", "skipped"]
    assert results["scripted"]["status"] == "passed"
    assert results["simulated"]["status"] == "skipped"
    assert "CALLPLANE_LLM_BASE_URL" in results["simulated"]["reason"]
    assert run["status"] == "passed" and run["skipped"] == 1


async def test_named_tests_lists_and_bad_input(
    tenant: Tenant, other_tenant: Tenant, offline: None
) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"], config=CONFIG)
    url = f"/core/agents/{agent['id']}/versions/{draft['version']}/test-runs"
    assert (await tenant.post(url)).status_code == 409  # no tests yet
    await create_test(
        tenant,
        agent["id"],
        name="one",
        turns=["Hi"],
        expectations=[{"type": "reply_contains", "text": "offline"}],
    )
    await create_test(
        tenant,
        agent["id"],
        name="two",
        turns=["Hi"],
        expectations=[{"type": "reply_contains", "text": "never said"}],
    )
    unknown = await tenant.post(url, json={"tests": ["one", "nope"]})
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]
    assert (await tenant.post(url, json={"tests": "one"})).status_code == 422
    assert (
        await tenant.post(f"/core/agents/{agent['id']}/versions/99/test-runs")
    ).status_code == 404
    assert (await other_tenant.post(url)).status_code == 404
    reader = await tenant.key_with("agents:read")
    assert (await tenant.client.post(url, headers=reader)).status_code == 403
    listed = (await tenant.get(f"/core/agents/{agent['id']}/test-runs")).json()
    assert listed["data"] == []  # nothing was started by the refused requests

    run = await run_and_wait(tenant, agent["id"], draft["version"], tests=["one"])
    assert run["status"] == "passed" and run["all_tests"] is False and run["tests"] == 1
    listed = (await tenant.get(url)).json()["data"]
    assert [r["id"] for r in listed] == [run["id"]] and listed[0]["results"] is None
    assert (
        await tenant.get(f"/core/agents/{agent['id']}/test-runs", params={"status": "failed"})
    ).json()["data"] == []
    assert (await other_tenant.get(f"/core/test-runs/{run['id']}")).status_code == 404


async def test_a_real_passed_run_opens_the_gate_and_an_edit_closes_it(
    tenant: Tenant, offline: None
) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"], config=CONFIG)
    await create_test(
        tenant,
        agent["id"],
        name="greets",
        turns=["Hi"],
        expectations=[{"type": "reply_contains", "text": "Welcome"}],
    )
    await tenant.put(
        f"/core/agents/{agent['id']}/test-settings", json={"require_passing_tests": True}
    )
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 409
    run = await run_and_wait(tenant, agent["id"], draft["version"])
    assert run["status"] == "passed"
    url = f"/core/agents/{agent['id']}/versions/{draft['version']}"
    edited = await tenant.put(url, json={"config": {**CONFIG, "starting_message": "Hello!"}})
    assert edited.status_code == 200
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 409
    rerun = await run_and_wait(tenant, agent["id"], draft["version"])
    assert rerun["status"] == "failed"  # the new greeting fails the test
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 409
