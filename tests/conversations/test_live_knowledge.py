"""Knowledge in live conversations: the real full-text search over indexed documents, cited."""

from __future__ import annotations

from callplane.db.engine import Database
from tests.conversations.conftest import agent_with, say, start, transcript
from tests.factories import Tenant
from tests.knowledge.test_search import make_collection
from tests.support.llm_stub import Scripted, StubLLMServer


async def test_indexed_documents_are_given_to_the_model_and_cited(
    tenant: Tenant, other_tenant: Tenant, database: Database, llm: StubLLMServer
) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    foreign = await make_collection(database, other_tenant.organization_id)
    agent_id, _ = await agent_with(
        tenant,
        {
            "instructions": "Clinic bot.",
            "knowledge_bases": [
                {"collection_id": str(collection_id), "top_n": 2},
                {"collection_id": str(foreign), "top_n": 2},  # another org's: contributes nothing
            ],
        },
    )
    conversation = await start(tenant, agent_id, version="latest")
    llm.script.append(Scripted(text="We open on Saturdays."))
    events = await say(tenant, conversation["id"], "When are you open on Saturday?")

    [knowledge] = [data for name, data in events if name == "knowledge"]
    passages = knowledge["passages"]
    assert 1 <= len(passages) <= 2
    assert passages[0]["url"] == "https://clinic.test/hours"
    assert {p["collection_id"] for p in passages} == {str(collection_id)}
    prompt = llm.requests[-1].body["messages"][-2]
    assert prompt["role"] == "system"
    assert "Opening hours — https://clinic.test/hours" in prompt["content"]
    assert "Saturdays" in prompt["content"]
    done = events[-1][1]
    assert done["message"]["citations"][0]["url"] == "https://clinic.test/hours"
    assert done["message"]["citations"][0]["title"] == "Opening hours"
    read = await transcript(tenant, conversation["id"])
    assert read["transcript"][-1]["citations"] == done["message"]["citations"]


async def test_the_offline_responder_answers_from_indexed_documents(
    tenant: Tenant, database: Database
) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    agent_id, _ = await agent_with(
        tenant,
        {"instructions": "Clinic bot.", "knowledge_bases": [{"collection_id": str(collection_id)}]},
    )
    conversation = await start(tenant, agent_id, version="latest")
    events = await say(tenant, conversation["id"], "When are you open on Saturday?")
    done = events[-1][1]
    assert done["model"] == "offline"
    assert "Saturdays" in done["message"]["content"]
    assert "https://clinic.test/hours" in done["message"]["content"]
    assert done["message"]["citations"][0]["url"] == "https://clinic.test/hours"
