"""Versions (SPEC §4): numbering, drafts, `latest`, listing, immutability once published."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from callplane.agent_config import AgentConfig, default_config
from tests.factories import Tenant

INPUTS = {"company_name": "Acme", "purpose": "Book appointments", "rules": ["Be brief"]}


def full_config(**changes: Any) -> dict[str, Any]:
    """A complete config as the server stores it, so PUT replaces exactly what we mean."""
    return AgentConfig.model_validate({"instructions": "Help callers.", **changes}).model_dump(
        mode="json"
    )


async def versions_of(tenant: Tenant, agent_id: str, **params: str) -> list[int]:
    response = await tenant.get(f"/core/agents/{agent_id}/versions", params=params)
    assert response.status_code == 200, response.text
    return [item["version"] for item in response.json()["data"]]


# --- create -------------------------------------------------------------------------------------


async def test_create_from_config_numbers_versions_in_order(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}/versions"
    created = []
    for i in range(3):
        response = await tenant.post(url, json={"config": {"instructions": f"v{i + 1}"}})
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert [v["version"] for v in created] == [1, 2, 3]
    first = created[0]
    assert first["agent_id"] == agent["id"]
    assert first["config"] == full_config(instructions="v1")
    assert first["published"] is False and first["published_at"] is None
    assert first["instruction_builder_inputs"] is None
    assert first["instructions_status"] == "idle"
    assert first["instructions_generated_at"] is None
    assert first["created_at"].endswith("Z") and first["updated_at"].endswith("Z")
    assert len({v["id"] for v in created}) == 3


async def test_create_responds_with_etag_header(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    response = await tenant.post(
        f"/core/agents/{agent['id']}/versions", json={"config": {"instructions": "x"}}
    )
    assert response.status_code == 201
    assert response.headers["etag"] == response.json()["etag"]


async def test_numbers_are_per_agent(tenant: Tenant) -> None:
    first = await tenant.create_agent()
    second = await tenant.create_agent()
    await tenant.create_version(first["id"])
    await tenant.create_version(first["id"])
    assert (await tenant.create_version(second["id"]))["version"] == 1


async def test_create_from_base_version_copies_config_inputs_and_flags(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    base = await tenant.create_version(
        agent["id"],
        config={"instructions": "Base.", "max_tool_steps": 7},
        instruction_builder_inputs=INPUTS,
    )
    # A config with instructions counts as hand-written; inputs never generated are dirty.
    assert base["instructions_dirty"] is True and base["instructions_manually_edited"] is True

    copy = await tenant.create_version(agent["id"], base_version=1)
    assert copy["version"] == 2
    assert copy["id"] != base["id"]
    assert copy["config"] == base["config"]
    assert copy["instruction_builder_inputs"] == INPUTS
    assert copy["instructions_dirty"] is True
    assert copy["instructions_manually_edited"] is True
    assert copy["published"] is False


async def test_create_from_base_version_copies_clean_flags(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={})
    copy = await tenant.create_version(agent["id"], base_version=1)
    assert copy["instructions_dirty"] is False
    assert copy["instructions_manually_edited"] is False
    assert copy["config"] == default_config()


async def test_create_from_published_base_makes_a_draft(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    copy = await tenant.create_version(agent["id"], base_version=version["version"])
    assert copy["version"] == 2 and copy["published"] is False and copy["published_at"] is None
    assert copy["config"] == version["config"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"config": {"instructions": "x"}, "base_version": 1},
        {"instruction_builder_inputs": INPUTS},
        {"config": None},
        {"base_version": 0},
        {"base_version": 3_000_000_000},  # beyond the 32-bit column: 422, not a database error
        {"base_version": 10**20},
        {"config": {"instructions": "x"}, "unknown": 1},
        {"config": {"instructions": "x", "temperature": 0.5}},  # unknown config key
        {"config": {"llm": {"temperature": 3.0}}},  # out of bounds
        {"config": {"max_tool_steps": 0}},  # out of bounds
        {"config": {"voice": {"speed": 9}}},  # out of bounds
        {"config": {"instructions": "x"}, "instruction_builder_inputs": {"colour": "red"}},
    ],
)
async def test_create_rejects_bad_bodies(tenant: Tenant, body: dict[str, Any]) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    response = await tenant.post(f"/core/agents/{agent['id']}/versions", json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await versions_of(tenant, agent["id"]) == [1]


async def test_create_from_unknown_base_is_404_and_creates_nothing(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    response = await tenant.post(f"/core/agents/{agent['id']}/versions", json={"base_version": 5})
    assert response.status_code == 404
    assert response.json() == {"detail": "Base version 5 not found.", "code": "version_not_found"}
    assert await versions_of(tenant, agent["id"]) == [1]


async def test_create_on_unknown_agent_is_404(tenant: Tenant) -> None:
    response = await tenant.post(
        f"/core/agents/{uuid.uuid4()}/versions", json={"config": {"instructions": "x"}}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found.", "code": "agent_not_found"}


# --- get ----------------------------------------------------------------------------------------


async def test_get_by_number(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    created = await tenant.create_version(agent["id"])
    await tenant.create_version(agent["id"], config={"instructions": "second"})
    response = await tenant.get(f"/core/agents/{agent['id']}/versions/1")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == created["etag"]


@pytest.mark.parametrize("number", ["2", "0", "999999999"])
async def test_get_unknown_number_is_404(tenant: Tenant, number: str) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    response = await tenant.get(f"/core/agents/{agent['id']}/versions/{number}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Version not found.", "code": "version_not_found"}


@pytest.mark.parametrize("ref", ["newest", "1.5", "-1", "LATEST", "1e3"])
async def test_get_non_numeric_reference_is_422(tenant: Tenant, ref: str) -> None:
    agent = await tenant.create_agent()
    response = await tenant.get(f"/core/agents/{agent['id']}/versions/{ref}")
    assert response.status_code == 422, response.text


async def test_get_version_of_unknown_agent_is_agent_not_found(tenant: Tenant) -> None:
    for ref in ("1", "latest"):
        response = await tenant.get(f"/core/agents/{uuid.uuid4()}/versions/{ref}")
        assert response.status_code == 404
        assert response.json()["code"] == "agent_not_found"


# --- latest -------------------------------------------------------------------------------------


async def test_latest_without_versions_creates_default_draft_once(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}/versions/latest"
    response = await tenant.get(url)
    assert response.status_code == 200, response.text
    draft = response.json()
    assert draft["version"] == 1 and draft["published"] is False
    assert draft["config"] == default_config()
    assert draft["instruction_builder_inputs"] is None
    assert draft["instructions_dirty"] is False
    assert draft["instructions_manually_edited"] is False
    assert response.headers["etag"] == draft["etag"]

    again = await tenant.get(url)
    assert again.status_code == 200
    assert again.json() == draft
    assert await versions_of(tenant, agent["id"]) == [1]


async def test_latest_returns_newest_draft(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    newest = await tenant.create_version(agent["id"], config={"instructions": "two"})
    response = await tenant.get(f"/core/agents/{agent['id']}/versions/latest")
    assert response.json() == newest
    assert await versions_of(tenant, agent["id"]) == [2, 1]


async def test_latest_after_publish_creates_a_copy_of_the_newest(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(
        agent["id"], config={"instructions": "Hi."}, instruction_builder_inputs=INPUTS
    )
    # Regenerate-free publish: instructions were written by hand, so they are not stale.
    assert (await tenant.publish(agent["id"], 1)).status_code == 200
    published = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()

    url = f"/core/agents/{agent['id']}/versions/latest"
    draft = (await tenant.get(url)).json()
    assert draft["version"] == 2 and draft["published"] is False
    assert draft["id"] != published["id"]
    assert draft["config"] == published["config"]
    assert draft["instruction_builder_inputs"] == INPUTS
    assert draft["instructions_dirty"] == published["instructions_dirty"]
    assert draft["instructions_manually_edited"] == published["instructions_manually_edited"]
    assert (await tenant.get(url)).json() == draft
    assert await versions_of(tenant, agent["id"]) == [2, 1]


async def test_concurrent_latest_calls_make_one_draft(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}/versions/latest"
    responses = await asyncio.gather(*(tenant.get(url) for _ in range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    assert {r.json()["id"] for r in responses} == {responses[0].json()["id"]}
    assert await versions_of(tenant, agent["id"]) == [1]


async def test_concurrent_creates_number_without_gaps(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}/versions"
    body = {"config": {"instructions": "x"}}
    responses = await asyncio.gather(*(tenant.post(url, json=body) for _ in range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 9))


# --- list ---------------------------------------------------------------------------------------


async def test_list_filters(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    v1 = await tenant.create_version(agent["id"])
    v2 = await tenant.create_version(agent["id"])
    v3 = await tenant.create_version(agent["id"])
    assert (await tenant.publish(agent["id"], 2)).status_code == 200

    assert await versions_of(tenant, agent["id"]) == [3, 2, 1]
    assert await versions_of(tenant, agent["id"], version="2") == [2]
    assert await versions_of(tenant, agent["id"], version="4") == []
    assert await versions_of(tenant, agent["id"], published="true") == [2]
    assert await versions_of(tenant, agent["id"], published="false") == [3, 1]
    assert await versions_of(tenant, agent["id"], created_after=v1["created_at"]) == [3, 2]
    assert await versions_of(tenant, agent["id"], created_before=v3["created_at"]) == [2, 1]
    assert await versions_of(
        tenant, agent["id"], created_after=v1["created_at"], created_before=v3["created_at"]
    ) == [2]
    # Publishing touched version 2 after version 3 was created.
    assert await versions_of(tenant, agent["id"], updated_after=v3["updated_at"]) == [2]
    assert await versions_of(tenant, agent["id"], updated_before=v2["updated_at"]) == [1]


async def test_list_only_shows_this_agents_versions(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    other = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    await tenant.create_version(other["id"])
    await tenant.create_version(other["id"])
    assert await versions_of(tenant, agent["id"]) == [1]
    assert await versions_of(tenant, other["id"]) == [2, 1]


async def test_list_paginates_newest_first(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    for _ in range(5):
        await tenant.create_version(agent["id"])
    url = f"/core/agents/{agent['id']}/versions"
    pages: list[list[int]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await tenant.get(url, params=params)
        assert response.status_code == 200
        page = response.json()
        assert page["pagination"]["limit"] == 2
        pages.append([item["version"] for item in page["data"]])
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert pages == [[5, 4], [3, 2], [1]]


@pytest.mark.parametrize(
    "params",
    [
        {"version": "0"},
        {"version": "3000000000"},
        {"version": "99999999999999999999"},
        {"version": "two"},
        {"published": "maybe"},
        {"limit": "0"},
        {"limit": "101"},
        {"created_after": "yesterday"},
    ],
)
async def test_list_rejects_bad_filters(tenant: Tenant, params: dict[str, str]) -> None:
    agent = await tenant.create_agent()
    response = await tenant.get(f"/core/agents/{agent['id']}/versions", params=params)
    assert response.status_code == 422, response.text


async def test_list_malformed_cursor_is_400(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    for cursor in ("garbage", "W10", "WyJ4Il0"):
        response = await tenant.get(
            f"/core/agents/{agent['id']}/versions", params={"cursor": cursor}
        )
        assert response.status_code == 400, cursor
        assert response.json()["code"] == "invalid_cursor"


async def test_list_of_unknown_agent_is_404(tenant: Tenant) -> None:
    response = await tenant.get(f"/core/agents/{uuid.uuid4()}/versions")
    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"


# --- update -------------------------------------------------------------------------------------


async def test_update_draft_config(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    created = await tenant.create_version(agent["id"])
    url = f"/core/agents/{agent['id']}/versions/1"
    new_config = full_config(max_tool_steps=3, noise_cancellation=True)
    response = await tenant.put(url, json={"config": new_config})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["config"] == new_config
    assert updated["etag"] != created["etag"]
    assert response.headers["etag"] == updated["etag"]
    assert updated["version"] == 1 and updated["id"] == created["id"]
    assert (await tenant.get(url)).json() == updated


async def test_update_with_empty_body_keeps_every_field(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    created = await tenant.create_version(
        agent["id"], config={"instructions": "x"}, instruction_builder_inputs=INPUTS
    )
    response = await tenant.put(f"/core/agents/{agent['id']}/versions/1", json={})
    assert response.status_code == 200
    updated = response.json()
    for field in ("config", "instruction_builder_inputs", "instructions_dirty"):
        assert updated[field] == created[field], field


async def test_update_published_version_is_400_and_changes_nothing(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    url = f"/core/agents/{agent['id']}/versions/{version['version']}"
    before = (await tenant.get(url)).json()
    for body in (
        {"config": full_config(instructions="changed")},
        {"instruction_builder_inputs": INPUTS},
        {},
    ):
        response = await tenant.put(url, json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "version_published"
        assert "base_version" in response.json()["detail"]
    assert (await tenant.get(url)).json() == before


async def test_update_if_match(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    created = await tenant.create_version(agent["id"])
    url = f"/core/agents/{agent['id']}/versions/1"
    stale = created["etag"]

    ok = await tenant.put(
        url, json={"config": full_config(max_tool_steps=2)}, headers={"If-Match": stale}
    )
    assert ok.status_code == 200, ok.text
    fresh = ok.json()["etag"]
    assert fresh != stale

    conflict = await tenant.put(
        url, json={"config": full_config(max_tool_steps=9)}, headers={"If-Match": stale}
    )
    assert conflict.status_code == 412
    assert conflict.json()["code"] == "precondition_failed"
    current = (await tenant.get(url)).json()
    assert current["config"]["max_tool_steps"] == 2 and current["etag"] == fresh

    # Weak comparison, lists and `*` are accepted forms of a matching If-Match.
    for form in ("{}", "W/{}", '"nope", {}', "*"):
        header = form.format(fresh)
        response = await tenant.put(url, json={}, headers={"If-Match": header})
        assert response.status_code == 200, header
        fresh = response.json()["etag"]


async def test_update_rejects_null_config_and_bad_config(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    created = await tenant.create_version(agent["id"])
    url = f"/core/agents/{agent['id']}/versions/1"
    for body in (
        {"config": None},
        {"config": {"instructions": "x", "unknown_key": 1}},
        {"config": {"max_tool_steps": 51}},
        {"instruction_builder_inputs": {"rules": [""]}},
        {"unknown": 1},
    ):
        response = await tenant.put(url, json=body)
        assert response.status_code == 422, body
    assert (await tenant.get(url)).json() == created


async def test_update_unknown_version_and_agent(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    response = await tenant.put(f"/core/agents/{agent['id']}/versions/1", json={})
    assert response.status_code == 404 and response.json()["code"] == "version_not_found"
    response = await tenant.put(f"/core/agents/{uuid.uuid4()}/versions/1", json={})
    assert response.status_code == 404 and response.json()["code"] == "agent_not_found"
    for ref in ("latest", "0", "3000000000"):
        response = await tenant.put(f"/core/agents/{agent['id']}/versions/{ref}", json={})
        assert response.status_code == 422, ref
        response = await tenant.delete(f"/core/agents/{agent['id']}/versions/{ref}")
        assert response.status_code == 422, ref


# --- delete -------------------------------------------------------------------------------------


async def test_delete_draft(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    await tenant.create_version(agent["id"])
    response = await tenant.delete(f"/core/agents/{agent['id']}/versions/2")
    assert response.status_code == 204 and response.content == b""
    assert (await tenant.get(f"/core/agents/{agent['id']}/versions/2")).status_code == 404
    assert await versions_of(tenant, agent["id"]) == [1]
    response = await tenant.delete(f"/core/agents/{agent['id']}/versions/2")
    assert response.status_code == 404 and response.json()["code"] == "version_not_found"


async def test_delete_published_version_is_409(tenant: Tenant) -> None:
    agent, _ = await tenant.published_agent()
    response = await tenant.delete(f"/core/agents/{agent['id']}/versions/1")
    assert response.status_code == 409
    assert response.json()["code"] == "version_published"
    assert (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()["published"]
    assert await versions_of(tenant, agent["id"]) == [1]


# --- scopes -------------------------------------------------------------------------------------


async def test_read_scope_reads_but_cannot_write(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    reader = await tenant.key_with("agents:read")
    base = f"/core/agents/{agent['id']}/versions"
    for url in (base, f"{base}/1"):
        response = await tenant.client.get(url, headers=reader)
        assert response.status_code == 200, url
    writes = [
        ("POST", base, {"config": {"instructions": "x"}}),
        ("PUT", f"{base}/1", {"config": full_config(instructions="x")}),
        ("DELETE", f"{base}/1", None),
        ("POST", f"{base}/1/publish", None),
    ]
    for method, url, body in writes:
        response = await tenant.client.request(method, url, json=body, headers=reader)
        assert response.status_code == 403, (method, url)
        assert response.json()["detail"] == "Missing scope: requires agents:manage."
    assert await versions_of(tenant, agent["id"]) == [1]
    assert (await tenant.get(f"{base}/1")).json() == draft
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"] is None


# --- tenancy ------------------------------------------------------------------------------------


async def test_other_organization_sees_404_everywhere(tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    base = f"/core/agents/{agent['id']}/versions"
    attempts = [
        ("GET", base, None),
        ("POST", base, {"config": {"instructions": "x"}}),
        ("POST", base, {"base_version": 1}),
        ("GET", f"{base}/1", None),
        ("GET", f"{base}/latest", None),
        ("PUT", f"{base}/1", {"config": full_config(instructions="stolen")}),
        ("DELETE", f"{base}/1", None),
        ("POST", f"{base}/1/publish", None),
        ("POST", f"{base}/1/publish", {"direction": "both"}),
    ]
    for method, url, body in attempts:
        response = await other_tenant.request(method, url, json=body)
        assert response.status_code == 404, (method, url)
        assert response.json()["code"] == "agent_not_found", (method, url)
    assert await versions_of(tenant, agent["id"]) == [1]
    assert (await tenant.get(f"{base}/1")).json() == draft
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"] is None
