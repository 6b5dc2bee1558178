"""Rollback (`POST /core/agents/{id}/rollback`): the version goes live again and every phone slot
holding any version of this agent follows it, in one transaction."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import Tenant
from tests.publishing.test_publish_api import (
    EMPTY,
    get_version,
    holds,
    live_version,
    publish_ok,
    record,
    slot,
)


async def rollback(tenant: Tenant, agent_id: str, body: Any, **kwargs: Any) -> httpx.Response:
    return await tenant.post(f"/core/agents/{agent_id}/rollback", json=body, **kwargs)


async def rollback_ok(tenant: Tenant, agent_id: str, to_version: int) -> dict[str, Any]:
    response = await rollback(tenant, agent_id, {"to_version": to_version})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def events(tenant: Tenant, query: str) -> list[dict[str, Any]]:
    response = await tenant.get(f"/core/audit-events?limit=100{query}")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def three_versions(tenant: Tenant) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An agent whose versions 1, 2 and 3 have all been published (3 is live)."""
    agent = await tenant.create_agent()
    versions = [await tenant.create_version(agent["id"]) for _ in range(3)]
    for version in versions:
        await publish_ok(tenant, agent["id"], version["version"])
    return agent, versions


async def snapshot(tenant: Tenant, agent_id: str, numbers: list[str]) -> dict[str, Any]:
    """Everything a refused rollback must leave alone."""
    versions = (await tenant.get(f"/core/agents/{agent_id}/versions", params={"limit": 100})).json()
    return {
        "live": await live_version(tenant, agent_id),
        "versions": versions["data"],
        "numbers": [await record(tenant, number) for number in numbers],
    }


async def test_rollback_moves_every_slot_of_the_agent_and_no_other(tenant: Tenant) -> None:
    agent, (v1, v2, v3) = await three_versions(tenant)
    other_agent, other_version = await tenant.published_agent()
    on_three, mixed, on_two, on_one, foreign = [await tenant.register_number() for _ in range(5)]
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[on_one], direction="both")
    await publish_ok(tenant, agent["id"], 2, phone_numbers=[on_two], direction="outbound")
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[mixed, foreign], direction="both")
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[on_three], direction="both")
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[mixed], direction="inbound")
    foreign_before = await record(tenant, foreign)
    on_one_before = await record(tenant, on_one)

    answer = await rollback_ok(tenant, agent["id"], 1)

    assert answer == {
        "agent_id": agent["id"],
        "version": 1,
        "agent_version_id": v1["id"],
        "previous_live_version": 3,
        "changed": sorted(
            [
                {
                    "phone_number": on_three,
                    "direction": "inbound",
                    "from_version": 3,
                    "to_version": 1,
                },
                {
                    "phone_number": on_three,
                    "direction": "outbound",
                    "from_version": 3,
                    "to_version": 1,
                },
                {"phone_number": mixed, "direction": "inbound", "from_version": 3, "to_version": 1},
                {
                    "phone_number": on_two,
                    "direction": "outbound",
                    "from_version": 2,
                    "to_version": 1,
                },
            ],
            key=lambda change: (change["phone_number"], change["direction"]),
        ),
    }
    assert await live_version(tenant, agent["id"]) == 1
    for number in (on_three, on_one):
        stored = await record(tenant, number)
        assert slot(stored, "inbound") == slot(stored, "outbound") == holds(v1)
    mixed_after = await record(tenant, mixed)
    assert slot(mixed_after, "inbound") == holds(v1)
    assert slot(mixed_after, "outbound") == holds(other_version)
    on_two_after = await record(tenant, on_two)
    assert slot(on_two_after, "outbound") == holds(v1)
    assert slot(on_two_after, "inbound") == EMPTY
    assert await record(tenant, foreign) == foreign_before
    assert await record(tenant, on_one) == on_one_before  # already on 1: not even re-stamped
    # The newer versions stay published: rollback changes what is live, not history.
    assert [(await get_version(tenant, agent["id"], n))["published"] for n in (2, 3)] == [True] * 2
    assert v2["version"] == 2 and v3["version"] == 3


async def test_rollback_leaves_an_audit_trail_like_publish(tenant: Tenant) -> None:
    agent, _ = await three_versions(tenant)
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number], direction="both")

    await rollback_ok(tenant, agent["id"], 2)

    [published, *_] = await events(
        tenant, f"&resource_id={agent['id']}&action=agent.version.published"
    )
    assert published["changes"] == {
        "version": 2,
        "first_publish": False,
        "rollback": True,
        "previous_live_version": 3,
    }
    [moved, _] = await events(
        tenant, f"&resource_id={number.replace('+', '%2B')}&action=phone_number.assignment_changed"
    )
    assert moved["changes"] == {
        "inbound": {"agent_id": agent["id"], "version": 2},
        "outbound": {"agent_id": agent["id"], "version": 2},
    }
    assert moved["request_id"] == published["request_id"]


async def test_rollback_to_the_live_version_changes_nothing(tenant: Tenant) -> None:
    agent, _ = await three_versions(tenant)
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number])
    before = await record(tenant, number)
    answer = await rollback_ok(tenant, agent["id"], 3)
    assert answer["changed"] == [] and answer["previous_live_version"] == 3
    assert await record(tenant, number) == before


async def test_rollback_to_a_draft_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    agent, _ = await three_versions(tenant)
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number], direction="both")
    before = await snapshot(tenant, agent["id"], [number])

    response = await rollback(tenant, agent["id"], {"to_version": 4})

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "version_not_published"
    assert "publish" in response.json()["detail"]
    assert await snapshot(tenant, agent["id"], [number]) == before


async def test_rollback_to_an_unknown_version_or_agent_is_404(tenant: Tenant) -> None:
    agent, _ = await three_versions(tenant)
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number])
    before = await snapshot(tenant, agent["id"], [number])

    response = await rollback(tenant, agent["id"], {"to_version": 9})
    assert response.status_code == 404
    assert response.json()["code"] == "version_not_found"
    response = await rollback(tenant, str(uuid.uuid4()), {"to_version": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"
    assert await snapshot(tenant, agent["id"], [number]) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        None,
        [],
        {"to_version": 0},
        {"to_version": -1},
        {"to_version": None},
        {"to_version": "latest"},
        {"to_version": 1.5},
        {"to_version": True},  # not version 1: a rollback moves every line, so no coercion
        {"to_version": "1"},
        {"to_version": 2_000_000_001},
        {"to_version": 1, "phone_numbers": []},
    ],
)
async def test_bad_bodies_are_422_and_change_nothing(tenant: Tenant, body: Any) -> None:
    agent, _ = await three_versions(tenant)
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number])
    before = await snapshot(tenant, agent["id"], [number])
    response = await rollback(tenant, agent["id"], body)
    assert response.status_code == 422, response.text
    assert await snapshot(tenant, agent["id"], [number]) == before


async def test_another_organizations_agent_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    agent, _ = await three_versions(tenant)
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number])
    before = await snapshot(tenant, agent["id"], [number])
    response = await rollback(other_tenant, agent["id"], {"to_version": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"
    assert await snapshot(tenant, agent["id"], [number]) == before


async def test_a_retry_with_the_same_idempotency_key_replays_the_answer(tenant: Tenant) -> None:
    agent, (v1, _, _) = await three_versions(tenant)
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 3, phone_numbers=[number])
    headers = {"Idempotency-Key": f"rollback-{uuid.uuid4()}"}

    first = await rollback(tenant, agent["id"], {"to_version": 1}, headers=headers)
    await publish_ok(tenant, agent["id"], 3)  # someone rolls forward in between
    second = await rollback(tenant, agent["id"], {"to_version": 1}, headers=headers)

    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert first.json()["changed"] == [
        {"phone_number": number, "direction": "inbound", "from_version": 3, "to_version": 1}
    ]
    assert await live_version(tenant, agent["id"]) == 3  # the retry did not run again
    assert slot(await record(tenant, number), "inbound") == holds(v1)
    rollbacks = [
        event
        for event in await events(
            tenant, f"&resource_id={agent['id']}&action=agent.version.published"
        )
        if event["changes"].get("rollback")
    ]
    assert len(rollbacks) == 1
