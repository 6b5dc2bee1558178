from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from tests.factories import Tenant


async def test_create_get_update_delete_agent(tenant: Tenant) -> None:
    created = await tenant.create_agent(name="  Support  ", description="d", metadata={"team": "a"})
    assert created["name"] == "Support"
    assert created["active"] is True and created["is_demo"] is False
    assert created["live_version"] is None
    assert created["created_at"].endswith("Z")

    response = await tenant.get(f"/core/agents/{created['id']}")
    assert response.status_code == 200
    detail = response.json()
    assert detail["versions"] == [] and detail["phone_numbers"] == [] and detail["widgets"] == []
    assert detail["sip_endpoint"] == {"enabled": False, "sip_uri": None, "deployed_at": None}
    assert detail["conversation_stats"]["total"] == 0
    assert response.headers["etag"] == detail["etag"]

    response = await tenant.put(f"/core/agents/{created['id']}", json={"active": False})
    assert response.status_code == 200
    updated = response.json()
    assert updated["active"] is False and updated["name"] == "Support"
    assert updated["metadata"] == {"team": "a"}
    assert updated["etag"] != created["etag"]

    response = await tenant.delete(f"/core/agents/{created['id']}")
    assert response.status_code == 204
    assert (await tenant.get(f"/core/agents/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "ok", "unknown": 1},
        {"name": "ok", "metadata": [1]},
        {"name": "ok", "metadata": {"k": "v" * 17000}},
        {"name": "ok", "description": "d" * 2001},
        {"name": "ok", "active": "maybe"},
    ],
)
async def test_create_agent_rejects_bad_input(tenant: Tenant, body: dict[str, object]) -> None:
    response = await tenant.post("/core/agents", json=body)
    assert response.status_code == 422, response.text
    listed = (await tenant.get("/core/agents")).json()
    assert listed["data"] == []


async def test_update_rejects_null_for_required_fields(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    for field in ("name", "active", "is_demo", "metadata"):
        response = await tenant.put(f"/core/agents/{agent['id']}", json={field: None})
        assert response.status_code == 422, field
    response = await tenant.put(f"/core/agents/{agent['id']}", json={"description": None})
    assert response.status_code == 200 and response.json()["description"] is None


async def test_if_match_on_agent_update(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}"
    stale = agent["etag"]
    ok = await tenant.put(url, json={"name": "B"}, headers={"If-Match": stale})
    assert ok.status_code == 200
    conflict = await tenant.put(url, json={"name": "C"}, headers={"If-Match": stale})
    assert conflict.status_code == 412
    assert conflict.json()["code"] == "precondition_failed"
    assert (await tenant.get(url)).json()["name"] == "B"


async def test_other_organization_sees_404(tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}"
    assert (await other_tenant.get(url)).status_code == 404
    assert (await other_tenant.put(url, json={"name": "x"})).status_code == 404
    assert (await other_tenant.delete(url)).status_code == 404
    assert (await tenant.get(url)).json()["name"] == "Agent"


async def test_unknown_agent_is_404_with_code(tenant: Tenant) -> None:
    response = await tenant.get(f"/core/agents/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found.", "code": "agent_not_found"}


async def test_list_filters(tenant: Tenant) -> None:
    a = await tenant.create_agent(name="Sales Bot", metadata={"team": "sales", "tier": 1})
    b = await tenant.create_agent(name="support bot", is_demo=True, metadata={"team": "support"})
    c = await tenant.create_agent(
        name="100% real_agent", active=False, metadata={"nested": {"x": 1}}
    )

    async def names(**params: str) -> list[str]:
        response = await tenant.get("/core/agents", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert await names() == [c["id"], b["id"], a["id"]]
    assert await names(name="BOT") == [b["id"], a["id"]]
    assert await names(name="%") == [c["id"]]
    assert await names(name="_") == [c["id"]]
    assert await names(name="\\") == []
    assert await names(active="false") == [c["id"]]
    assert await names(is_demo="true") == [b["id"]]
    assert await names(metadata=orjson.dumps({"team": "sales"}).decode()) == [a["id"]]
    assert await names(metadata=orjson.dumps({"team": "sales", "tier": 1}).decode()) == [a["id"]]
    assert await names(metadata=orjson.dumps({"tier": "1"}).decode()) == []
    assert await names(metadata=orjson.dumps({"nested": {"x": 1}}).decode()) == [c["id"]]
    assert await names(metadata="{}") == [c["id"], b["id"], a["id"]]
    assert await names(created_after=a["created_at"]) == [c["id"], b["id"]]
    assert await names(created_before=b["created_at"]) == [a["id"]]
    assert await names(updated_after=c["updated_at"]) == []


async def test_nested_metadata_filters_compare_values_not_spellings(tenant: Tenant) -> None:
    """Both databases compare nested values as JSON: key order and 1.0 vs 1 do not matter,
    extra or missing nested keys do (nested values are exact, not subsets)."""
    stored = {"team": "sales", "routing": {"queue": "eu", "weights": [1, {"b": 2, "a": 1}]}}
    agent = await tenant.create_agent(metadata=stored)
    await tenant.create_agent(metadata={"routing": "eu"})  # a scalar where an object is asked

    async def found(wanted: dict[str, object]) -> bool:
        response = await tenant.get(
            "/core/agents", params={"metadata": orjson.dumps(wanted).decode()}
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]] == [agent["id"]]

    assert await found({"routing": {"weights": [1.0, {"a": 1, "b": 2.0}], "queue": "eu"}})
    assert await found({"team": "sales", "routing": stored["routing"]})
    assert not await found({"routing": {"queue": "eu"}})
    assert not await found({"routing": {"queue": "eu", "weights": [{"a": 1, "b": 2}, 1]}})
    assert not await found({"routing": {"queue": "eu", "weights": [1, {"a": 1, "b": 2}], "x": 0}})


@pytest.mark.parametrize(
    "params",
    [
        {"metadata": "[1]"},
        {"metadata": "not json"},
        {"limit": "0"},
        {"limit": "101"},
        {"created_after": "yesterday"},
        {"active": "perhaps"},
    ],
)
async def test_list_rejects_bad_filters(tenant: Tenant, params: dict[str, str]) -> None:
    response = await tenant.get("/core/agents", params=params)
    assert response.status_code == 422, response.text


async def test_malformed_cursor_is_400(tenant: Tenant) -> None:
    for cursor in ("garbage", "W10", "eyJ0IjoxfQ"):
        response = await tenant.get("/core/agents", params={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.json()["code"] == "invalid_cursor"


async def test_pagination_walks_every_agent_once(tenant: Tenant) -> None:
    ids = [(await tenant.create_agent(name=f"a{i}"))["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await tenant.get("/core/agents", params=params)).json()
        assert page["pagination"]["limit"] == 3
        seen += [item["id"] for item in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    "raw", ["not-a-uuid", "1234", "01a2244b-4217-7412-bad1-f538ab1badc", "%F0%9F%98%80"]
)
async def test_detail_answers_bad_input_as_dependency_solved_routes_do(
    tenant: Tenant, client: httpx.AsyncClient, raw: str
) -> None:
    """The detail route skips FastAPI's dependency solving (kit.lean); it must still answer
    exactly as its neighbour `GET …/{agent_id}/versions` does: auth first, then 422."""
    viewer = await tenant.key_with("phone_numbers:read")
    for headers in (tenant.headers, {}, viewer, {"Authorization": "Bearer ak_nope.nope"}):
        lean = await client.get(f"/core/agents/{raw}", headers=headers)
        solved = await client.get(f"/core/agents/{raw}/versions", headers=headers)
        assert lean.status_code == solved.status_code, (headers, lean.text, solved.text)
        assert lean.status_code in (401, 403, 422)
        assert lean.json() == solved.json()
        assert lean.headers.get("www-authenticate") == solved.headers.get("www-authenticate")


async def test_detail_with_a_plain_uuid_spelling(tenant: Tenant) -> None:
    """Pydantic's UUID parsing, as on every other route: 32 hex digits or upper case work."""
    agent = await tenant.create_agent()
    for spelling in (agent["id"].replace("-", ""), agent["id"].upper()):
        response = await tenant.get(f"/core/agents/{spelling}")
        assert response.status_code == 200, response.text
        assert response.json()["id"] == agent["id"]
