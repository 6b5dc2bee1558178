"""The playground against a scripted OpenAI-compatible model (the conversation tests' stub), in a
real browser: the reply streams, the tool call and the knowledge citation show.

The model is a server setting, so this module starts a second `callplane serve` (no worker, a
queue of its own) on the browser tests' database, configured with the stub; it shares the
world's organizations and sessions.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callplane.agents.schemas import AgentCreate
from callplane.agents.service import AgentService
from callplane.config import Settings
from callplane.knowledge.extract import text_document
from callplane.knowledge.schemas import CollectionCreate
from callplane.knowledge.service import KnowledgeService
from callplane.publishing.schemas import PublishRequest
from callplane.publishing.service import PublishingService
from callplane.versions.schemas import VersionUpdate
from callplane.versions.service import VersionService
from tests.console.conftest import Org, World, screenshot, sign_in
from tests.support.llm_stub import Scripted, ScriptedCall, StubBehaviour, StubLLMServer, user_text
from tests.support.processes import Process, process_env, server

REPLY = "We open on Saturdays from 9 to 12."


@pytest.fixture(scope="module")
def llm() -> Iterator[StubLLMServer]:
    stub = StubLLMServer(behaviour=StubBehaviour(reply=REPLY))
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def modelled(world: World, llm: StubLLMServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The world's database served by a second server whose model is the stub."""
    suffix = uuid.uuid4().hex[:8]
    env = process_env(
        Settings(env="test", database_url=world.database_url),
        CALLPLANE_LLM_BASE_URL=llm.base_url,
        CALLPLANE_LLM_API_KEY="sk-test",
        CALLPLANE_LLM_MODEL="stub-model",
        CALLPLANE_LLM_TIMEOUT_SECONDS="10",
        CALLPLANE_LOG_LEVEL="WARNING",
        CALLPLANE_WORKFLOW_QUEUE=f"console-llm-{suffix}",
        CALLPLANE_WORKFLOW_EXECUTOR_ID=f"console-llm-{suffix}",
    )
    log: Path = tmp_path_factory.mktemp("console-llm") / "server.log"
    process: Process = server(env, log, no_worker=True)
    try:
        asyncio.run(process.wait_healthy(within=120))
        assert process.url is not None
        yield World(process.url, world.database_url)
    finally:
        process.kill()  # disposable: nothing of its own to clean up (the world's server stays)


def knowing_agent(world: World, org: Org) -> uuid.UUID:
    """A published agent with a knowledge base (searched every turn) and a tool that searches
    it on demand."""

    async def work(session: Any) -> uuid.UUID:
        knowledge = KnowledgeService(session, org.id)
        collection = await knowledge.create(CollectionCreate(name="Clinic"))
        await knowledge.add_document(
            collection.id,
            text_document("We are open on Saturdays from 9 to 12.", "text/plain"),
            source="text",
            title="Opening hours",
        )
        agent = await AgentService(session, org.id).create(AgentCreate(name="Front desk"))
        versions = VersionService(session, org.id)
        draft = await versions.latest(agent.id)
        tool = {
            "name": "lookup_hours",
            "description": "The opening hours of a day.",
            "properties": {"day": {"type": "string"}},
            "required": ["day"],
            "actions": [
                {"type": "knowledge_base", "collection_id": str(collection.id), "top_n": 1}
            ],
        }
        config = {
            **draft.config,
            "instructions": "Answer questions about the clinic.",
            "knowledge_bases": [{"collection_id": str(collection.id), "top_n": 2}],
            "tools": [tool],
        }
        await versions.update(agent.id, 1, VersionUpdate.model_validate({"config": config}), None)
        await PublishingService(session, org.id).publish(agent.id, 1, PublishRequest())
        return agent.id

    result: uuid.UUID = world.run(work)
    return result


def test_the_playground_streams_a_model_reply_with_its_tool_call_and_citation(
    modelled: World, page: Any, org: Org, llm: StubLLMServer
) -> None:
    agent_id = knowing_agent(modelled, org)
    # First the model calls the tool; then it answers (the stub's default stream), pausing
    # after its first word until the test has seen it on the page.
    llm.script.append(Scripted(tool_calls=[ScriptedCall("lookup_hours", {"day": "Saturday"})]))
    gate = threading.Event()
    llm.behaviour.gate = gate

    sign_in(modelled, page, org)
    page.goto(f"{modelled.url}/console/agents/{agent_id}/playground")
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill("When are you open on Saturday?")
    page.get_by_role("button", name="Send").click()
    reply = page.locator("#pg-chat .msg.agent").last
    try:
        page.wait_for_function(
            "() => { const r = [...document.querySelectorAll('#pg-chat .msg.agent')].pop();"
            " return r && r.querySelector('.content').textContent === 'We '; }",
            timeout=45_000,
        )
        assert reply.get_attribute("data-done") is None  # the first word, the turn not done
    finally:
        gate.set()
    page.locator("#pg-chat .msg.agent[data-done='true']").wait_for()
    assert reply.locator(".content").inner_text() == REPLY
    tools = reply.locator(".tool").all_inner_texts()
    assert any(t.startswith("🔧 lookup_hours(") and '"Saturday"' in t for t in tools)
    assert any(t.startswith("↳ lookup_hours:") and "Saturdays" in t for t in tools)
    # Cited: the passages searched for the turn, and those the tool's search returned.
    assert set(reply.locator(".citations").all_inner_texts()) == {"Sources: Opening hours"}
    screenshot(page, "playground-model")

    # The model was given the user's words, the passage and the tool.
    chat = [r.body for r in llm.requests if r.path == "/v1/chat/completions"]
    assert user_text(chat[0]) == "When are you open on Saturday?"
    assert [t["function"]["name"] for t in chat[0]["tools"]] == ["lookup_hours"]
    assert any("Saturdays" in str(m.get("content")) for m in chat[0]["messages"])
    assert any(m.get("role") == "tool" for m in chat[1]["messages"])
