"""Rollbacks racing publishes: they serialize like publishes do — no 500, no deadlock — and leave
every slot holding one real, published version, never a version the rollback moved away from."""

from __future__ import annotations

from typing import Any

from tests.concurrency.helpers import at_once
from tests.concurrency.test_publish_races import (
    SLOTS,
    _all_versions,
    _assert_consistent,
    _records,
    _register,
    _slot,
)
from tests.factories import Tenant


def _rollback(tenant: Tenant, agent_id: str, to_version: int) -> Any:
    return tenant.post(f"/core/agents/{agent_id}/rollback", json={"to_version": to_version})


async def _published(tenant: Tenant, count: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    agent = await tenant.create_agent()
    versions = [await tenant.create_version(agent["id"]) for _ in range(count)]
    for version in versions:
        response = await tenant.publish(agent["id"], version["version"])
        assert response.status_code == 200, response.text
    return agent, versions


async def test_rollbacks_racing_publishes_of_the_same_agent(tenant: Tenant) -> None:
    """Both move every number the agent holds, so whichever committed last is live and holds
    every slot: a rollback that missed a number a racing publish had just written would show."""
    agent, _ = await _published(tenant, 4)
    numbers = await _register(tenant, 12)
    response = await tenant.publish(agent["id"], 4, phone_numbers=numbers, direction="both")
    assert response.status_code == 200, response.text

    requests = []
    for round_ in range(3):
        requests.append(_rollback(tenant, agent["id"], 1 + round_ % 2))
        requests.append(
            tenant.publish(agent["id"], 3 + round_ % 2, phone_numbers=numbers, direction="both")
        )
    responses = await at_once(*requests)

    assert [r.status_code for r in responses] == [200] * len(requests), [r.text for r in responses]
    versions = await _all_versions(tenant, agent["id"])
    live = (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"]
    for record in (await _records(tenant, numbers)).values():
        for slot in SLOTS:
            assert _assert_consistent(_slot(record, slot), versions)["version"] == live


async def test_a_rollback_racing_another_agent_taking_its_numbers(tenant: Tenant) -> None:
    """Agent B's publishes take a share of agent A's numbers (locking them in the reverse order of
    the list) while A rolls back: no deadlock, and no slot is left on A's newer version."""
    first, first_versions = await _published(tenant, 2)
    second, second_versions = await _published(tenant, 1)
    numbers = await _register(tenant, 16)
    response = await tenant.publish(first["id"], 2, phone_numbers=numbers, direction="both")
    assert response.status_code == 200, response.text
    taken = numbers[4:][::-1]

    requests = []
    for _ in range(3):
        requests.append(_rollback(tenant, first["id"], 1))
        requests.append(tenant.publish(second["id"], 1, phone_numbers=taken, direction="both"))
        requests.append(tenant.publish(first["id"], 2, phone_numbers=taken[::2], direction="both"))
    responses = await at_once(*requests)

    assert [r.status_code for r in responses] == [200] * len(requests), [r.text for r in responses]
    versions = {
        **await _all_versions(tenant, first["id"]),
        **await _all_versions(tenant, second["id"]),
    }
    allowed = {first_versions[0]["id"], first_versions[1]["id"], second_versions[0]["id"]}
    records = await _records(tenant, numbers)
    for record in records.values():
        for slot in SLOTS:
            assert _assert_consistent(_slot(record, slot), versions)["id"] in allowed
    for number in numbers[:4]:  # only ever A's: the last rollback put them on 1, or a publish on 2
        assert {records[number][f"{slot}_agent_id"] for slot in SLOTS} == {first["id"]}
    live = (await tenant.get(f"/core/agents/{first['id']}")).json()["live_version"]
    for record in records.values():
        for slot in SLOTS:
            if record[f"{slot}_agent_id"] == first["id"] and live == 1:
                assert record[f"{slot}_version"] == 1  # the last A write was a rollback
