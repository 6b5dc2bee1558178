"""Deleting agents while another agent's publishes take their numbers: a delete empties its slots
in publish's lock order (agent row, then numbers sorted), so no deadlock and no 500, and it empties
exactly the slots its agent still held when it got them — never another agent's."""

from __future__ import annotations

from typing import Any

from tests.concurrency.helpers import at_once
from tests.concurrency.test_publish_races import SLOTS, _records, _register, _slot
from tests.factories import Tenant

EMPTY = (None, None, None)


async def _releases(tenant: Tenant, number: str) -> list[dict[str, Any]]:
    """The `phone_number.assignment_changed` events that emptied slots of `number`."""
    query = f"resource_id={number.replace('+', '%2B')}&action=phone_number.assignment_changed"
    response = await tenant.get(f"/core/audit-events?limit=100&{query}")
    assert response.status_code == 200, response.text
    return [
        event["changes"]
        for event in response.json()["data"]
        if all(
            change == {"agent_id": None, "version": None} for change in event["changes"].values()
        )
    ]


async def test_deleting_agents_racing_another_agent_taking_their_numbers(tenant: Tenant) -> None:
    doomed = [(await tenant.published_agent())[0] for _ in range(4)]
    taker, version = await tenant.published_agent()
    numbers = await _register(tenant, 24)
    for index, agent in enumerate(doomed):  # each holds every fourth number, both slots
        held = numbers[index::4]
        response = await tenant.publish(agent["id"], 1, phone_numbers=held, direction="both")
        assert response.status_code == 200, response.text
    kept, taken = numbers[:8], numbers[8:][::-1]  # taken spans every doomed agent's numbers

    deletes = [tenant.delete(f"/core/agents/{agent['id']}") for agent in doomed]
    publishes = [
        tenant.publish(taker["id"], 1, phone_numbers=taken[start::4], direction="both")
        for start in range(4)
    ]
    responses = await at_once(*(r for pair in zip(deletes, publishes, strict=True) for r in pair))

    assert [r.status_code for r in responses] == [204, 200] * 4, [r.text for r in responses]
    records = await _records(tenant, numbers)
    holds_taker = (taker["id"], version["id"], version["version"])
    for number in taken:
        assert [_slot(records[number], slot) for slot in SLOTS] == [holds_taker] * 2
        # Released by the delete only when it got the number before the publish did.
        assert len(await _releases(tenant, number)) <= 1
    for number in kept:
        assert [_slot(records[number], slot) for slot in SLOTS] == [EMPTY] * 2
        assert await _releases(tenant, number) == [
            {slot: {"agent_id": None, "version": None} for slot in SLOTS}
        ]
