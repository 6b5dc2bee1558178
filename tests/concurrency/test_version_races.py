"""Versions under concurrent writers (SPEC §4): one draft from `latest`, gap-free numbering, and
If-Match that lets exactly one of several racing editors win."""

from __future__ import annotations

from typing import Any

from tests.concurrency.helpers import at_once
from tests.factories import Tenant

PARALLEL = 10


async def _versions(tenant: Tenant, agent_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await tenant.get(
        f"/core/agents/{agent_id}/versions", params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pagination"]["next_cursor"] is None
    return list(body["data"])


async def test_parallel_latest_after_a_published_version_makes_one_draft(tenant: Tenant) -> None:
    agent, published = await tenant.published_agent()
    url = f"/core/agents/{agent['id']}/versions/latest"

    responses = await at_once(*(tenant.get(url) for _ in range(PARALLEL)))

    assert [r.status_code for r in responses] == [200] * PARALLEL, [r.text for r in responses]
    drafts = {(r.json()["id"], r.json()["version"]) for r in responses}
    assert len(drafts) == 1, drafts
    ((draft_id, draft_number),) = drafts
    assert draft_number == published["version"] + 1
    assert all(r.json()["published"] is False for r in responses)
    assert all(r.json()["config"] == published["config"] for r in responses)

    unpublished = await _versions(tenant, agent["id"], published="false")
    assert [(v["id"], v["version"]) for v in unpublished] == [(draft_id, draft_number)]
    assert [v["version"] for v in await _versions(tenant, agent["id"])] == [2, 1]


async def test_parallel_latest_on_an_agent_without_versions_makes_one_draft(
    tenant: Tenant,
) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}/versions/latest"

    responses = await at_once(*(tenant.get(url) for _ in range(PARALLEL)))

    assert [r.status_code for r in responses] == [200] * PARALLEL, [r.text for r in responses]
    assert {(r.json()["id"], r.json()["version"]) for r in responses} == {
        (responses[0].json()["id"], 1)
    }
    assert [v["version"] for v in await _versions(tenant, agent["id"])] == [1]


async def test_parallel_creates_get_consecutive_numbers(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    for _ in range(2):
        await tenant.create_version(agent["id"])
    url = f"/core/agents/{agent['id']}/versions"

    responses = await at_once(
        *(
            tenant.post(url, json={"config": {"instructions": f"Variant {i}."}})
            for i in range(PARALLEL)
        )
    )

    assert [r.status_code for r in responses] == [201] * PARALLEL, [r.text for r in responses]
    numbers = sorted(r.json()["version"] for r in responses)
    assert numbers == list(range(3, 3 + PARALLEL))
    # Each number went to the request whose config it carries (no mixed-up rows).
    stored = {
        v["version"]: v["config"]["instructions"] for v in await _versions(tenant, agent["id"])
    }
    assert sorted(stored) == list(range(1, 3 + PARALLEL))
    for response in responses:
        created = response.json()
        assert stored[created["version"]] == created["config"]["instructions"]


async def test_parallel_if_match_updates_let_exactly_one_win(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    url = f"/core/agents/{agent['id']}/versions/{draft['version']}"
    headers = {"If-Match": draft["etag"]}

    responses = await at_once(
        *(
            tenant.put(url, json={"config": {"instructions": f"Edit {i}."}}, headers=headers)
            for i in range(PARALLEL)
        )
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (PARALLEL - 1), [r.text for r in responses]
    (winner,) = (r.json() for r in responses if r.status_code == 200)
    for loser in (r for r in responses if r.status_code == 412):
        assert loser.json()["code"] == "precondition_failed"
    current = (await tenant.get(url)).json()
    assert current["config"]["instructions"] == winner["config"]["instructions"]
    assert current["etag"] == winner["etag"] != draft["etag"]
