"""Concurrent retries with one Idempotency-Key (SPEC §1): the request runs once; the others get the
stored response replayed, or 409 while the first is still in flight — never a second run, never 500.
"""

from __future__ import annotations

from tests.concurrency.helpers import at_once
from tests.factories import Tenant

RETRIES = 5


async def test_parallel_retries_create_exactly_one_agent(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "create-support-agent-1"}
    body = {"name": "Support", "metadata": {"attempt": "same"}}

    responses = await at_once(
        *(tenant.post("/core/agents", json=body, headers=headers) for _ in range(RETRIES))
    )

    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    executed = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(executed) == 1, [(r.status_code, dict(r.headers)) for r in responses]
    (original,) = executed
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_key_in_flight"
        elif response is not original:
            assert response.headers["idempotent-replayed"] == "true"
            assert response.content == original.content

    listed = (await tenant.get("/core/agents")).json()["data"]
    assert [agent["id"] for agent in listed] == [original.json()["id"]]

    # Once the first has finished, every retry is a replay of it.
    retry = await tenant.post("/core/agents", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == original.content
    assert len((await tenant.get("/core/agents")).json()["data"]) == 1
