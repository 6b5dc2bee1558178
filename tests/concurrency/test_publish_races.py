"""Concurrent publishes to the same numbers (SPEC §5): they serialize — no 500, no deadlock — and
every slot ends holding exactly one of the requested versions.

A publish writes all of its numbers in one transaction, so serialized publishes leave each slot
*direction* uniform across a shared set of numbers: whoever committed last owns all of them. A torn
or interleaved write shows up as a mix.
"""

from __future__ import annotations

from typing import Any

from tests.concurrency.helpers import at_once
from tests.factories import Tenant

SLOTS = ("inbound", "outbound")


async def _register(tenant: Tenant, count: int) -> list[str]:
    return list(await at_once(*(tenant.register_number() for _ in range(count))))


async def _records(tenant: Tenant, numbers: list[str]) -> dict[str, dict[str, Any]]:
    responses = await at_once(*(tenant.get(f"/core/phone-numbers/{n}") for n in numbers))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return {r.json()["phone_number"]: r.json() for r in responses}


async def _all_versions(tenant: Tenant, agent_id: str) -> dict[str, dict[str, Any]]:
    response = await tenant.get(f"/core/agents/{agent_id}/versions", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {v["id"]: v for v in response.json()["data"]}


def _slot(record: dict[str, Any], slot: str) -> tuple[Any, Any, Any]:
    return (
        record[f"{slot}_agent_id"],
        record[f"{slot}_agent_version_id"],
        record[f"{slot}_version"],
    )


def _assert_consistent(
    slot_value: tuple[Any, Any, Any], versions: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The slot's (agent id, version id, number) triple names one real, published version."""
    agent_id, version_id, number = slot_value
    version = versions[version_id]
    assert (version["agent_id"], version["version"]) == (agent_id, number)
    assert version["published"] is True
    return version


async def test_parallel_publishes_of_different_versions_serialize(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    directions = ["inbound", "outbound", "both", "inbound", "both", "outbound"]
    drafts = [await tenant.create_version(agent["id"]) for _ in directions]
    numbers = await _register(tenant, 20)

    responses = await at_once(
        *(
            tenant.publish(agent["id"], draft["version"], phone_numbers=numbers, direction=d)
            for draft, d in zip(drafts, directions, strict=True)
        )
    )

    assert [r.status_code for r in responses] == [200] * len(drafts), [r.text for r in responses]
    for response in responses:
        assert sorted(r["phone_number"] for r in response.json()) == sorted(numbers)

    versions = await _all_versions(tenant, agent["id"])
    assert sorted(v["version"] for v in versions.values() if v["published"]) == [1, 2, 3, 4, 5, 6]
    records = await _records(tenant, numbers)
    holders: dict[str, set[str]] = {}
    for slot in SLOTS:
        wanted = {
            draft["id"] for draft, d in zip(drafts, directions, strict=True) if d in (slot, "both")
        }
        for record in records.values():
            _assert_consistent(_slot(record, slot), versions)
        holders[slot] = {record[f"{slot}_agent_version_id"] for record in records.values()}
        assert len(holders[slot]) == 1, (slot, holders[slot])
        assert holders[slot] <= wanted

    # The last publish to commit is live, and it owns the slot(s) it wrote.
    live = (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"]
    (live_version,) = (v for v in versions.values() if v["version"] == live)
    live_direction = directions[live - 1]
    for slot in SLOTS:
        if live_direction in (slot, "both"):
            assert holders[slot] == {live_version["id"]}


async def test_two_agents_publishing_overlapping_numbers_in_opposite_orders(
    tenant: Tenant,
) -> None:
    """The classic deadlock shape: A locks n0…n13 while B locks n19…n6 (the reverse)."""
    first, first_version = await tenant.published_agent()
    second, second_version = await tenant.published_agent()
    numbers = await _register(tenant, 20)
    first_numbers, second_numbers = numbers[:14], numbers[6:][::-1]
    owner = {first["id"]: first_version, second["id"]: second_version}

    rounds = 4
    requests = []
    for _ in range(rounds):
        requests.append(
            tenant.publish(first["id"], 1, phone_numbers=first_numbers, direction="both")
        )
        requests.append(
            tenant.publish(second["id"], 1, phone_numbers=second_numbers, direction="both")
        )
    responses = await at_once(*requests)

    assert [r.status_code for r in responses] == [200] * 2 * rounds, [r.text for r in responses]
    versions = {
        **await _all_versions(tenant, first["id"]),
        **await _all_versions(tenant, second["id"]),
    }
    records = await _records(tenant, numbers)
    for record in records.values():
        for slot in SLOTS:
            version = _assert_consistent(_slot(record, slot), versions)
            assert version["id"] == owner[version["agent_id"]]["id"]
    for number in numbers[:6]:
        assert {records[number][f"{slot}_agent_id"] for slot in SLOTS} == {first["id"]}
    for number in numbers[14:]:
        assert {records[number][f"{slot}_agent_id"] for slot in SLOTS} == {second["id"]}
    overlap = {(_slot(records[n], "inbound"), _slot(records[n], "outbound")) for n in numbers[6:14]}
    assert len(overlap) == 1, overlap  # one publish committed last and owns the whole overlap
    ((inbound, outbound),) = overlap
    assert inbound == outbound
