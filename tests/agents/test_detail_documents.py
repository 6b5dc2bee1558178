"""The agent detail document built in one SQL statement (PostgreSQL's `json_build_object`,
SQLite's `json_object`: agents/detail_sql.py) is the Python assembly's, value for value, on
whichever database the suite runs: the served bytes come from SQL, the schema from Python."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from callplane.agents.service import AgentService, agent_detail
from callplane.db.engine import Database
from tests.factories import Tenant, mixed_conversations

SIP_DOMAIN = "sip.test.local"


async def _both(tenant: Tenant, agent_id: str) -> tuple[Any, Any]:
    database: Database = tenant.database
    document, etag = await agent_detail(
        database, tenant.organization_id, uuid.UUID(agent_id), SIP_DOMAIN
    )
    async with database.session(write=False) as session, session.begin():
        assembled = await AgentService(session, tenant.organization_id).assemble_detail(
            uuid.UUID(agent_id), SIP_DOMAIN
        )
    assert etag == assembled.etag
    return orjson.loads(document), orjson.loads(assembled.model_dump_json())


async def _import(tenant: Tenant, *records: dict[str, Any]) -> None:
    response = await tenant.post("/core/conversations/import", json={"conversations": records})
    assert response.status_code == 201, response.text


async def test_a_bare_agent(tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Bare", metadata={})
    built, assembled = await _both(tenant, agent["id"])
    assert built == assembled
    assert built["description"] is None and built["versions"] == []
    assert built["conversation_stats"]["total_duration_seconds"] == 0


async def test_a_fully_deployed_agent(tenant: Tenant) -> None:
    agent = await tenant.create_agent(
        name='Front "desk" ✓',
        description="Books\nappointments",
        metadata={"z": 1, "a": {"nested": [1, 2.5, None, True]}, "ü": "ß"},
    )
    aid = agent["id"]
    versions = [await tenant.create_version(aid) for _ in range(3)]
    numbers = sorted([await tenant.register_number(label=f"line {n}") for n in range(3)])
    assert (await tenant.publish(aid, 1, phone_numbers=numbers[:2])).status_code == 200
    assert (await tenant.publish(aid, 3, phone_numbers=numbers[1:])).status_code == 200
    other = await tenant.create_agent(name="Other")
    await tenant.create_version(other["id"])
    assert (await tenant.publish(other["id"], 1, phone_numbers=[numbers[0]])).status_code == 200
    # Held through the outbound slot only.
    outbound = await tenant.publish(aid, 2, phone_numbers=[numbers[0]], direction="outbound")
    assert outbound.status_code == 200, outbound.text
    await tenant.create_widget(aid, versions[0]["id"])
    await tenant.create_widget(aid, versions[2]["id"])
    deployed = await tenant.post(f"/core/agents/{aid}/deploy-as-sip")
    assert deployed.status_code == 200, deployed.text
    await _import(
        tenant,
        *mixed_conversations(aid),
    )

    built, assembled = await _both(tenant, aid)
    assert built == assembled
    assert [v["version"] for v in built["versions"]] == [3, 2, 1]
    assert [p["phone_number"] for p in built["phone_numbers"]] == numbers
    assert built["phone_numbers"][0]["inbound_agent_id"] == other["id"]
    assert built["phone_numbers"][0]["outbound_version"] == 2
    assert len(built["widgets"]) == 2
    assert built["sip_endpoint"]["sip_uri"] == f"sip:{aid}@{SIP_DOMAIN}"
    assert built["conversation_stats"]["total"] == 4
    assert built["metadata"] == {"z": 1, "a": {"nested": [1, 2.5, None, True]}, "ü": "ß"}
    # Timestamps as the Python assembly writes them: a fraction only when there is one.
    assert built["conversation_stats"]["last_conversation_at"] == "2024-05-04T10:00:00.425000Z"


async def test_another_organizations_agent_is_not_found(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await other_tenant.create_agent()
    response = await tenant.get(f"/core/agents/{agent['id']}")
    assert response.status_code == 404
    built, _ = await _both(other_tenant, agent["id"])
    assert built["id"] == agent["id"]


async def test_durations_are_summed_in_the_python_assemblys_order(tenant: Tenant) -> None:
    """Float addition depends on its order ((0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1): the groups
    are created in the reverse of their key order, and both spellings must still agree."""
    agent = await tenant.create_agent(name="Sums")
    for channel, status, duration in [
        ("webrtc", "failed", 0.1),
        ("telephone", "completed", 0.2),
        ("sms", "abandoned", 0.3),
    ]:
        await _import(
            tenant,
            {
                "agent_id": agent["id"],
                "channel": channel,
                "status": status,
                "duration_seconds": duration,
                "started_at": "2024-05-01T10:00:00Z",
            },
        )
    built, assembled = await _both(tenant, agent["id"])
    assert built == assembled
    assert built["conversation_stats"]["total_duration_seconds"] == (0.1 + 0.2) + 0.3
