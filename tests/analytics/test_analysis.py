"""Post-conversation analysis of imported conversations: offline (computed metrics, the rest
`not_analyzed`) and with the local OpenAI-compatible stub (summary, verdict, fields)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from callplane.analytics import analysis
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.models import Conversation
from callplane.workflows.runtime import runtime
from tests.factories import Tenant
from tests.support.llm_stub import StubBehaviour, StubLLMServer

ANALYSIS = {
    "summary": True,
    "success_criterion": "The caller booked an appointment.",
    "fields": [
        {"name": "patient_name", "type": "string", "description": "The caller's name."},
        {"name": "slots_offered", "type": "integer", "description": "How many slots were offered."},
    ],
}
TRANSCRIPT = [
    {"role": "agent", "content": "Acme Dental, how can I help?"},
    {"role": "user", "content": "I'm Ana, I need a cleaning."},
    {"role": "tool", "content": '{"slots": ["9:00", "10:00"]}'},
    {"role": "agent", "content": "I booked you at 9:00."},
]


async def wait_analyzed(
    tenant: Tenant, conversation_id: str, within: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await tenant.get(f"/core/conversations/{conversation_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["analysis_status"] not in (None, "pending"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"conversation {conversation_id} not analyzed: {body}")
        await asyncio.sleep(0.05)


async def imported(tenant: Tenant, **fields: Any) -> tuple[str, str]:
    agent = await tenant.create_agent()
    version = await tenant.create_version(
        agent["id"], config={"instructions": "Book cleanings.", "analysis": ANALYSIS}
    )
    record = {
        "agent_id": agent["id"],
        "agent_version_id": version["id"],
        "channel": "telephone",
        "status": "completed",
        "duration_seconds": 75.0,
        "ended_reason": "hangup",
        "transcript": TRANSCRIPT,
        **fields,
    }
    response = await tenant.post("/core/conversations/import", json={"conversations": [record]})
    assert response.status_code == 201, response.text
    return agent["id"], str(response.json()["ids"][0])


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubLLMServer]:
    server = StubLLMServer(behaviour=StubBehaviour())
    server.start()
    settings = runtime().settings.model_copy(
        update={"llm_base_url": server.base_url, "llm_api_key": "sk-test", "llm_model": "judge-1"}
    )
    monkeypatch.setattr(runtime(), "settings", settings)
    yield server
    server.stop()


async def test_offline_analysis_computes_what_it_can_and_marks_the_rest(tenant: Tenant) -> None:
    agent_id, conversation_id = await imported(tenant)
    body = await wait_analyzed(tenant, conversation_id)
    assert body["analysis_status"] == "partial"
    assert body["tool_call_count"] == 1
    assert body["successful"] is None
    assert body["summary"] is None
    analysis = body["analysis"]
    assert analysis["model"] == "offline"
    assert analysis["metrics"] == {
        "turns": 3,
        "duration_seconds": 75.0,
        "tool_calls": 1,
        "tools_used": [],
        "ended_reason": "hangup",
        "status": "completed",
    }
    assert set(analysis["not_analyzed"]) == {
        "summary",
        "successful",
        "fields.patient_name",
        "fields.slots_offered",
    }
    assert all("CALLPLANE_LLM_BASE_URL" in why for why in analysis["not_analyzed"].values())
    events = await tenant.get(
        "/core/audit-events",
        params={"action": "conversation.analyzed", "resource_id": conversation_id},
    )
    assert events.status_code == 200
    [event] = events.json()["data"]
    assert event["changes"]["status"] == "partial"
    assert event["changes"]["agent_id"] == agent_id


async def test_analysis_with_a_model_fills_summary_verdict_and_fields(
    tenant: Tenant, llm: StubLLMServer
) -> None:
    llm.behaviour.reply = (
        "```json\n"
        + json.dumps(
            {
                "summary": "Ana booked a cleaning at 9:00.",
                "successful": True,
                "success_reason": "An appointment was booked.",
                "fields": {"patient_name": "Ana", "slots_offered": 2},
            }
        )
        + "\n```"
    )
    _, conversation_id = await imported(tenant)
    body = await wait_analyzed(tenant, conversation_id)
    assert body["analysis_status"] == "analyzed", body["analysis"]
    assert body["successful"] is True
    assert body["summary"] == "Ana booked a cleaning at 9:00."
    analysis = body["analysis"]
    assert analysis["fields"] == {"patient_name": "Ana", "slots_offered": 2}
    assert analysis["success_reason"] == "An appointment was booked."
    assert analysis["not_analyzed"] == {}
    assert analysis["model"] == "judge-1"
    [request] = [r for r in llm.requests if "Ana" in json.dumps(r.body)]
    prompt = json.dumps(request.body["messages"])
    assert "The caller booked an appointment." in prompt and "slots_offered" in prompt


async def test_a_model_answer_of_the_wrong_shape_is_not_analyzed_not_invented(
    tenant: Tenant, llm: StubLLMServer
) -> None:
    llm.behaviour.reply = json.dumps(
        {"summary": "Short.", "successful": "yes", "fields": {"slots_offered": "two"}}
    )
    _, conversation_id = await imported(tenant)
    body = await wait_analyzed(tenant, conversation_id)
    assert body["analysis_status"] == "partial"
    assert body["successful"] is None
    assert body["summary"] == "Short."
    assert set(body["analysis"]["not_analyzed"]) == {"successful", "fields.slots_offered"}
    assert body["analysis"]["fields"] == {"patient_name": None, "slots_offered": None}


async def test_an_imported_verdict_and_summary_are_kept(tenant: Tenant) -> None:
    _, conversation_id = await imported(tenant, successful=False, summary="Imported summary.")
    body = await wait_analyzed(tenant, conversation_id)
    assert body["successful"] is False
    assert body["summary"] == "Imported summary."
    assert "successful" not in body["analysis"]["not_analyzed"]


async def test_in_progress_conversations_are_not_analyzed(tenant: Tenant) -> None:
    _, conversation_id = await imported(tenant, status="in_progress")
    await asyncio.sleep(0.3)
    body = (await tenant.get(f"/core/conversations/{conversation_id}")).json()
    assert body["analysis_status"] is None and body["analysis"] is None


async def test_analysis_is_sensitive_but_the_verdict_is_not(tenant: Tenant) -> None:
    _, conversation_id = await imported(tenant, successful=True)
    await wait_analyzed(tenant, conversation_id)
    headers = await tenant.key_with("conversations:read")
    body = (
        await tenant.client.get(f"/core/conversations/{conversation_id}", headers=headers)
    ).json()
    assert body["analysis"] is None
    assert body["successful"] is True and body["analysis_status"] == "partial"


async def test_a_live_conversation_is_analyzed_when_it_ends(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(
        agent["id"], config={"instructions": "Book cleanings.", "analysis": ANALYSIS}
    )
    started = await tenant.post(
        f"/core/agents/{agent['id']}/conversations", json={"version": "latest"}
    )
    assert started.status_code == 201, started.text
    conversation_id = started.json()["id"]
    said = await tenant.post(
        f"/core/conversations/{conversation_id}/messages",
        json={"content": "Hello there."},
        headers={"Accept": "application/json"},
    )
    assert said.status_code == 200, said.text
    before = (await tenant.get(f"/core/conversations/{conversation_id}")).json()
    assert before["analysis_status"] is None  # not before it ends
    assert (await tenant.post(f"/core/conversations/{conversation_id}/end")).status_code == 200
    body = await wait_analyzed(tenant, conversation_id)
    assert body["analysis_status"] == "partial"
    metrics = body["analysis"]["metrics"]
    assert metrics["ended_reason"] == "ended_by_user"
    assert metrics["turns"] == 1  # the row's own count of turns
    assert metrics["tool_calls"] == 0 and body["tool_call_count"] == 0
    assert metrics["duration_seconds"] == body["duration_seconds"]


async def test_conversations_left_pending_are_handed_over_by_the_sweep(
    tenant: Tenant, database: Database
) -> None:
    """A process that died between commit and hand-over leaves `pending` rows behind."""
    async with database.session(write=True) as session, session.begin():
        row = Conversation(
            organization_id=tenant.organization_id,
            channel="text",
            status="completed",
            transcript=[{"role": "user", "content": "hi"}],
            analysis_status="pending",
            updated_at=utcnow() - timedelta(hours=1),
        )
        session.add(row)
    assert await analysis.sweep_pending(database, timedelta(minutes=10)) >= 1
    body = await wait_analyzed(tenant, str(row.id))
    assert body["analysis_status"] == "partial" and body["tool_call_count"] == 0
