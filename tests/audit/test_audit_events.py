"""The audit log: every write leaves one event, in its own transaction, visible only to its org."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callplane.db.engine import Database
from callplane.models import Agent, AuditEvent
from tests.factories import Tenant
from tests.workflows.helpers import generate_instructions


def key_id(tenant: Tenant) -> str:
    return str(uuid.UUID(hex=tenant.api_key.removeprefix("ak_").split(".")[0]))


async def events(tenant: Tenant, query: str = "") -> list[dict[str, Any]]:
    response = await tenant.get(f"/core/audit-events?limit=100{query}")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_each_write_records_who_did_what_newest_first(tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Front desk")
    updated = await tenant.put(f"/core/agents/{agent['id']}", json={"name": "Reception"})
    assert updated.status_code == 200
    version = await tenant.create_version(agent["id"])
    number = await tenant.register_number(label="Main line")
    published = await tenant.publish(agent["id"], version["version"], phone_numbers=[number])
    assert published.status_code == 200, published.text
    sip = await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")
    assert sip.status_code == 200

    *found, key, member, organization = await events(tenant)
    # The tenant's own setup, made outside any request (as `callplane bootstrap` does):
    assert [organization["action"], member["action"], key["action"]] == [
        "organization.created",
        "member.added",
        "api_key.created",
    ]
    assert key["actor"] == {"type": "system", "id": None, "credential_id": None}
    assert [e["action"] for e in found] == [
        "sip_endpoint.deployed",
        "phone_number.assignment_changed",
        "agent.version.published",
        "phone_number.created",
        "agent.version.created",
        "agent.updated",
        "agent.created",
    ]
    by_action = {e["action"]: e for e in found}
    assert by_action["agent.updated"]["changes"] == {
        "name": {"from": "Front desk", "to": "Reception"}
    }
    assert by_action["agent.updated"]["resource_id"] == agent["id"]
    assert by_action["agent.version.published"]["changes"]["version"] == version["version"]
    assignment = by_action["phone_number.assignment_changed"]
    assert assignment["resource_id"] == number
    assert assignment["changes"]["inbound"] == {"agent_id": agent["id"], "version": 1}
    for event in found:
        assert event["actor"] == {
            "type": "api_key",
            "id": key_id(tenant),
            "credential_id": key_id(tenant),
        }
    # The request id ties an event to the response (and the access log line) of its request.
    assert by_action["sip_endpoint.deployed"]["request_id"] == sip.headers["x-request-id"]


async def test_a_user_token_is_recorded_as_the_user(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/core/agents", json={"name": "By hand"}, headers=tenant.token_headers
    )
    assert response.status_code == 201
    [event] = await events(tenant, f"&resource_id={response.json()['id']}")
    assert event["actor"]["type"] == "user"
    assert event["actor"]["id"] == str(tenant.user_id)


async def test_a_refused_write_records_nothing(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    before = await events(tenant)
    refused = await tenant.publish(agent["id"], version["version"], phone_numbers=["+14155550000"])
    assert refused.status_code == 404  # not registered: the whole publish is rolled back
    assert await events(tenant) == before
    detail = await tenant.get(f"/core/agents/{agent['id']}")
    assert detail.json()["live_version"] is None


async def test_a_noop_write_records_nothing(tenant: Tenant) -> None:
    agent, _ = await tenant.published_agent()
    await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")
    again = await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")
    assert again.status_code == 200
    deployed = await events(tenant, "&action=sip_endpoint.deployed")
    assert len(deployed) == 1


async def test_filters_and_pagination(tenant: Tenant) -> None:
    first = await tenant.create_agent(name="One")
    second = await tenant.create_agent(name="Two")
    await tenant.delete(f"/core/agents/{first['id']}")
    created = await events(tenant, "&action=agent.created")
    assert [e["resource_id"] for e in created] == [second["id"], first["id"]]
    history = await events(tenant, f"&resource_id={first['id']}")
    assert [e["action"] for e in history] == ["agent.deleted", "agent.created"]
    assert await events(tenant, "&resource_type=agent&action=agent.deleted") == history[:1]
    assert len(await events(tenant, f"&actor_id={key_id(tenant)}")) == 3
    assert await events(tenant, f"&actor_id={uuid.uuid4()}") == []

    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert await events(tenant, f"&created_after={future.replace('+', '%2B')}") == []
    recent = await events(tenant, f"&created_after={past.replace('+', '%2B')}")
    assert len(recent) == 6  # with the tenant's setup: organization, member, key
    assert await events(tenant, f"&created_before={past.replace('+', '%2B')}") == []

    seen: list[str] = []
    cursor = ""
    while True:
        page = await tenant.get(f"/core/audit-events?limit=1{cursor}")
        assert page.status_code == 200
        seen += [e["id"] for e in page.json()["data"]]
        next_cursor = page.json()["pagination"]["next_cursor"]
        if next_cursor is None:
            break
        cursor = f"&cursor={next_cursor}"
    assert seen == [e["id"] for e in await events(tenant)]


async def test_bad_filters_are_4xx(tenant: Tenant) -> None:
    for query in ("cursor=garbage", "created_after=yesterday", f"action={'x' * 200}", "limit=0"):
        response = await tenant.get(f"/core/audit-events?{query}")
        assert 400 <= response.status_code < 500, (query, response.text)


async def test_other_organizations_see_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    assert await events(other_tenant, f"&resource_id={agent['id']}") == []
    assert all(e["resource_id"] != agent["id"] for e in await events(other_tenant))


async def test_reading_needs_audit_read(tenant: Tenant) -> None:
    headers = await tenant.key_with("agents:manage")
    response = await tenant.client.get("/core/audit-events", headers=headers)
    assert response.status_code == 403
    headers = await tenant.key_with("audit:read")
    response = await tenant.client.get("/core/audit-events", headers=headers)
    assert response.status_code == 200


async def test_key_lifecycle_is_audited(tenant: Tenant) -> None:
    created = await tenant.post("/admin/organization-pats", json={"name": "ci", "scopes": []})
    assert created.status_code == 201
    new_key = created.json()["key_id"]
    assert (await tenant.delete(f"/admin/organization-pats/{new_key}")).status_code == 204
    found = await events(tenant, f"&resource_id={uuid.UUID(new_key)}")
    assert [e["action"] for e in found] == ["api_key.revoked", "api_key.created"]
    assert "secret" not in str(found) and created.json()["pat_key"] not in str(found)


async def test_workflows_act_under_their_own_name(tenant: Tenant) -> None:
    run = await generate_instructions(tenant)
    workflow_id = run["workflow_id"]
    history = await events(tenant, f"&resource_id={workflow_id}")
    assert [e["action"] for e in history] == ["workflow.succeeded", "workflow.started"]
    assert history[0]["actor"]["type"] == "workflow"
    assert history[0]["actor"]["id"] == workflow_id
    assert history[1]["actor"]["type"] == "api_key"
    [generated] = await events(tenant, "&action=agent.version.instructions_generated")
    assert generated["actor"] == {"type": "workflow", "id": workflow_id, "credential_id": None}


@pytest.mark.parametrize("count", [3])
async def test_events_are_written_with_their_change(
    tenant: Tenant, database: Database, count: int
) -> None:
    """The event and the row it describes share a transaction: both or neither."""
    ids = [(await tenant.create_agent(name=f"A{i}"))["id"] for i in range(count)]
    async with database.session(write=False) as session:
        agents = (
            await session.scalars(
                select(Agent.id).where(Agent.organization_id == tenant.organization_id)
            )
        ).all()
        logged = (
            await session.scalars(
                select(AuditEvent.resource_id).where(
                    AuditEvent.organization_id == tenant.organization_id,
                    AuditEvent.action == "agent.created",
                )
            )
        ).all()
    assert sorted(map(str, agents)) == sorted(ids) == sorted(logged)


async def test_deleting_an_agent_records_the_numbers_it_released(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    published = await tenant.publish(
        agent["id"], version["version"], phone_numbers=[number], direction="both"
    )
    assert published.status_code == 200, published.text
    widget = await tenant.post(
        "/core/web-widgets", json={"agent_id": agent["id"], "agent_version_id": version["id"]}
    )
    assert widget.status_code == 201, widget.text
    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204
    [removed, _] = await events(tenant, f"&resource_id={widget.json()['id']}")
    assert removed["action"] == "web_widget.deleted"
    assert removed["changes"] == {"agent_id": agent["id"]}
    [released, assigned] = await events(
        tenant, f"&resource_id={number.replace('+', '%2B')}&action=phone_number.assignment_changed"
    )
    assert released["changes"] == {
        "inbound": {"agent_id": None, "version": None},
        "outbound": {"agent_id": None, "version": None},
    }
    assert assigned["changes"]["outbound"] == {"agent_id": agent["id"], "version": 1}
    # Newest first, in the order the deletion recorded them (the released number's event is
    # inserted at once by `record_many`, the others flushed at commit).
    assert [e["action"] for e in (await events(tenant))[:3]] == [
        "agent.deleted",
        "phone_number.assignment_changed",
        "web_widget.deleted",
    ]
