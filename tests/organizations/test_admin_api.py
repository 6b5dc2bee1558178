"""`/admin`: organization API keys (create once-shown, list without secrets, revoke) and scopes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from callplane.auth.scopes import ALL_SCOPES
from tests.factories import Tenant

KEY_FIELDS = {"key_id", "name", "scopes", "expires_at", "created_at", "revoked_at"}


async def list_keys(tenant: Tenant) -> list[dict[str, Any]]:
    response = await tenant.get("/admin/organization-pats", params={"limit": 100})
    assert response.status_code == 200
    return list(response.json()["data"])


async def create_key(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await tenant.post("/admin/organization-pats", json={"name": "k", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_key_shows_it_once_and_it_works(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await tenant.post("/admin/organization-pats", json={"name": "  CI deploy  "})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == KEY_FIELDS | {"pat_key"}
    assert created["name"] == "CI deploy"
    assert created["scopes"] == sorted(ALL_SCOPES)
    assert created["expires_at"] is None and created["revoked_at"] is None
    assert created["created_at"].endswith("Z")
    assert uuid.UUID(hex=created["key_id"]).hex == created["key_id"]
    assert created["pat_key"].startswith(f"ak_{created['key_id']}.")

    headers = {"Authorization": f"Bearer {created['pat_key']}"}
    scopes = await client.get("/admin/members/me/scopes", headers=headers)
    assert scopes.status_code == 200 and scopes.json() == sorted(ALL_SCOPES)
    agent = await client.post("/core/agents", json={"name": "By new key"}, headers=headers)
    assert agent.status_code == 201
    assert (await tenant.get("/core/agents")).json()["data"][0]["name"] == "By new key"


async def test_default_scopes_are_the_creators(client: httpx.AsyncClient, tenant: Tenant) -> None:
    creator = await tenant.key_with("api_keys:manage", "agents:read")
    response = await client.post("/admin/organization-pats", json={"name": "d"}, headers=creator)
    assert response.status_code == 201
    assert response.json()["scopes"] == ["agents:read", "api_keys:manage"]


async def test_token_creator_defaults_to_its_role_scopes(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        "/admin/organization-pats", json={"name": "mine"}, headers=tenant.token_headers
    )
    assert response.status_code == 201
    assert response.json()["scopes"] == sorted(ALL_SCOPES)


async def test_explicit_scope_subset(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create_key(tenant, scopes=["phone_numbers:read", "agents:read", "agents:read"])
    assert created["scopes"] == ["agents:read", "phone_numbers:read"]
    headers = {"Authorization": f"Bearer {created['pat_key']}"}
    assert (await client.get("/core/agents", headers=headers)).status_code == 200
    denied = await client.post("/core/agents", json={"name": "x"}, headers=headers)
    assert denied.status_code == 403
    assert (await client.get("/admin/members/me/scopes", headers=headers)).json() == [
        "agents:read",
        "phone_numbers:read",
    ]


async def test_empty_scope_list_makes_a_key_with_no_scopes(tenant: Tenant) -> None:
    created = await create_key(tenant, scopes=[])
    assert created["scopes"] == []


async def test_unknown_scope_is_422_and_creates_nothing(tenant: Tenant) -> None:
    before = await list_keys(tenant)
    response = await tenant.post(
        "/admin/organization-pats",
        json={"name": "bad", "scopes": ["agents:read", "agents:destroy", "Agents:Read"]},
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Unknown scopes: Agents:Read, agents:destroy.",
        "code": "unprocessable",
    }
    assert await list_keys(tenant) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": None},
        {"name": "x" * 201},
        {"name": "ok", "scopes": "agents:read"},
        {"name": "ok", "scopes": [1]},
        {"name": "ok", "expires_at": 0},
        {"name": "ok", "expires_at": -1},
        {"name": "ok", "expires_at": 1.5},
        {"name": "ok", "expires_at": "tomorrow"},
        {"name": "ok", "expires_at": "2030-01-01T00:00:00Z"},
        {"name": "ok", "expires_at": 253402300800000},
        {"name": "ok", "expires_at": 1},  # in the past: the key would be dead on arrival
        {"name": "ok", "expires_at": int(time.time() * 1000) - 1000},
        {"name": "ok", "pat_key": "ak_mine.secret"},
        {"name": "ok", "organization_id": str(uuid.uuid4())},
    ],
)
async def test_invalid_create_bodies_are_422(tenant: Tenant, body: dict[str, Any]) -> None:
    before = await list_keys(tenant)
    response = await tenant.post("/admin/organization-pats", json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await list_keys(tenant) == before


async def test_scopes_beyond_the_creators_are_403(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    before = await list_keys(tenant)
    creator = await tenant.key_with("api_keys:manage", "agents:read")
    response = await client.post(
        "/admin/organization-pats",
        json={"name": "escalate", "scopes": ["agents:read", "agents:manage", "members:manage"]},
        headers=creator,
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "A key cannot carry scopes its creator lacks: agents:manage, members:manage.",
        "code": "forbidden",
    }
    after = await list_keys(tenant)
    assert [k["name"] for k in after] == ["scoped"] + [k["name"] for k in before]


@pytest.mark.parametrize(
    "expires_at",
    [
        2_176_344_005_463,  # values whose float seconds do not round-trip to the same millisecond
        2_193_528_273_693,
        4_102_444_800_000,
        253_402_300_799_999,
    ],
)
async def test_expires_at_round_trips_in_epoch_milliseconds(
    tenant: Tenant, expires_at: int
) -> None:
    created = await create_key(tenant, expires_at=expires_at)
    assert created["expires_at"] == expires_at
    listed = [k for k in await list_keys(tenant) if k["key_id"] == created["key_id"]]
    assert listed[0]["expires_at"] == expires_at


async def test_now_plus_an_hour_is_stored_to_the_millisecond(tenant: Tenant) -> None:
    expires_at = int(time.time() * 1000) + 3_600_000
    created = await create_key(tenant, expires_at=expires_at)
    assert created["expires_at"] == expires_at
    listed = [k for k in await list_keys(tenant) if k["key_id"] == created["key_id"]]
    assert listed[0]["expires_at"] == expires_at


async def test_list_keys_never_shows_secrets(tenant: Tenant) -> None:
    first = await create_key(tenant, name="first")
    second = await create_key(tenant, name="second", scopes=["agents:read"])
    response = await tenant.get("/admin/organization-pats")
    assert response.status_code == 200
    keys = response.json()["data"]
    assert [k["name"] for k in keys] == ["second", "first", "test"]  # newest first
    for key in keys:
        assert set(key) == KEY_FIELDS
    for created in (first, second):
        secret = created["pat_key"].partition(".")[2]
        assert secret not in response.text
    assert tenant.api_key.partition(".")[2] not in response.text
    assert keys[0]["scopes"] == ["agents:read"]


async def test_list_is_per_organization(tenant: Tenant, other_tenant: Tenant) -> None:
    await create_key(tenant, name="only in A")
    assert [k["name"] for k in await list_keys(other_tenant)] == ["test"]


async def test_revoke_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create_key(tenant)
    response = await tenant.delete(f"/admin/organization-pats/{created['key_id']}")
    assert response.status_code == 204 and response.content == b""
    listed = {k["key_id"]: k for k in await list_keys(tenant)}
    assert listed[created["key_id"]]["revoked_at"].endswith("Z")
    headers = {"Authorization": f"Bearer {created['pat_key']}"}
    assert (await client.get("/core/agents", headers=headers)).status_code == 401
    # Revoking again changes nothing and still answers 204; the dashed form names the same key.
    again = await tenant.delete(f"/admin/organization-pats/{uuid.UUID(hex=created['key_id'])}")
    assert again.status_code == 204
    after = {k["key_id"]: k for k in await list_keys(tenant)}
    assert after[created["key_id"]]["revoked_at"] == listed[created["key_id"]]["revoked_at"]
    # The caller's own key is unaffected.
    assert (await tenant.get("/core/agents")).status_code == 200


@pytest.mark.parametrize(
    "key_id",
    [uuid.uuid4().hex, str(uuid.uuid4()), "nope", "1"],
    ids=["hex", "uuid", "nope", "1"],  # the same on every pytest-xdist worker
)
async def test_revoke_unknown_key_is_404(tenant: Tenant, key_id: str) -> None:
    response = await tenant.delete(f"/admin/organization-pats/{key_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "API key not found.", "code": "not_found"}


async def test_revoke_another_orgs_key_is_404_and_it_keeps_working(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await create_key(other_tenant)
    response = await tenant.delete(f"/admin/organization-pats/{created['key_id']}")
    assert response.status_code == 404
    assert response.json() == {"detail": "API key not found.", "code": "not_found"}
    headers = {"Authorization": f"Bearer {created['pat_key']}"}
    assert (await client.get("/core/agents", headers=headers)).status_code == 200
    listed = {k["key_id"]: k for k in await list_keys(other_tenant)}
    assert listed[created["key_id"]]["revoked_at"] is None


async def test_admin_key_routes_need_api_keys_manage(tenant: Tenant) -> None:
    agents_only = await tenant.key_with("agents:manage")
    expected = {"detail": "Missing scope: requires api_keys:manage.", "code": "forbidden"}
    before = await list_keys(tenant)
    for method, url, body in (
        ("GET", "/admin/organization-pats", None),
        ("POST", "/admin/organization-pats", {"name": "x"}),
        ("DELETE", f"/admin/organization-pats/{before[0]['key_id']}", None),
    ):
        response = await tenant.request(method, url, json=body, headers=agents_only)
        assert response.status_code == 403 and response.json() == expected, (method, url)
    after = await list_keys(tenant)
    assert [k["key_id"] for k in after] == [before[0]["key_id"]] + [k["key_id"] for k in before[1:]]
    assert all(k["revoked_at"] is None for k in after)


async def test_my_scopes_is_a_flat_sorted_list(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await tenant.get("/admin/members/me/scopes")
    assert response.status_code == 200
    assert response.json() == sorted(ALL_SCOPES)
    narrow = await tenant.key_with("web_widgets:read", "agents:manage", "audit:read")
    response = await client.get("/admin/members/me/scopes", headers=narrow)
    assert response.json() == ["agents:manage", "audit:read", "web_widgets:read"]


async def test_my_scopes_needs_a_credential(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/members/me/scopes")
    assert response.status_code == 401


async def test_a_past_expiry_says_why(tenant: Tenant) -> None:
    response = await tenant.post("/admin/organization-pats", json={"name": "late", "expires_at": 1})
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body", "expires_at"]
    assert "expires_at must be in the future" in issue["msg"]


async def expiring_key(tenant: Tenant, expires_at: int) -> dict[str, str]:
    created = await create_key(tenant, name="expiring creator", expires_at=expires_at)
    return {"Authorization": f"Bearer {created['pat_key']}"}


async def test_a_key_never_outlives_the_key_that_creates_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    creator_expiry = int(time.time() * 1000) + 3_600_000
    creator = await expiring_key(tenant, creator_expiry)

    inherited = await client.post("/admin/organization-pats", json={"name": "ci"}, headers=creator)
    assert inherited.status_code == 201, inherited.text
    assert inherited.json()["expires_at"] == creator_expiry
    null = await client.post(
        "/admin/organization-pats", json={"name": "ci", "expires_at": None}, headers=creator
    )
    assert null.json()["expires_at"] == creator_expiry
    sooner = await client.post(
        "/admin/organization-pats",
        json={"name": "ci", "expires_at": creator_expiry - 1},
        headers=creator,
    )
    assert sooner.json()["expires_at"] == creator_expiry - 1
    same = await client.post(
        "/admin/organization-pats",
        json={"name": "ci", "expires_at": creator_expiry},
        headers=creator,
    )
    assert same.json()["expires_at"] == creator_expiry

    before = await list_keys(tenant)
    later = await client.post(
        "/admin/organization-pats",
        json={"name": "ci", "expires_at": creator_expiry + 1},
        headers=creator,
    )
    assert later.status_code == 422
    assert later.json() == {
        "detail": (
            "expires_at cannot be later than the expiry of the credential creating the key "
            f"({creator_expiry}): a key never outlives its creator. "
            "Omit expires_at to give the key that expiry."
        ),
        "code": "unprocessable",
    }
    assert await list_keys(tenant) == before


async def test_a_key_never_outlives_the_user_token_that_creates_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from callplane.kit.time import from_epoch_ms
    from callplane.models import User
    from callplane.organizations.service import PlatformService

    token_expiry = int(time.time() * 1000) + 600_000
    async with tenant.database.session(write=True) as session, session.begin():
        user = await session.get(User, tenant.user_id)
        assert user is not None
        token = await PlatformService(session).create_token(
            user, "short", expires_at=from_epoch_ms(token_expiry)
        )
    headers = {
        "Authorization": f"Bearer {token.credential}",
        "X-Anyreach-Org": str(tenant.organization_id),
    }
    created = await client.post("/admin/organization-pats", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["expires_at"] == token_expiry
    later = await client.post(
        "/admin/organization-pats",
        json={"name": "ci", "expires_at": token_expiry + 60_000},
        headers=headers,
    )
    assert later.status_code == 422 and later.json()["code"] == "unprocessable"


async def test_a_creator_without_expiry_makes_keys_without_one(tenant: Tenant) -> None:
    assert (await create_key(tenant))["expires_at"] is None


async def test_the_key_list_is_paginated_like_every_list(tenant: Tenant) -> None:
    for name in ("one", "two", "three"):
        await create_key(tenant, name=name)
    first = await tenant.get("/admin/organization-pats", params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert set(page) == {"data", "pagination"}
    assert [k["name"] for k in page["data"]] == ["three", "two"]
    assert page["pagination"]["limit"] == 2 and page["pagination"]["next_cursor"]
    rest = await tenant.get(
        "/admin/organization-pats", params={"cursor": page["pagination"]["next_cursor"]}
    )
    assert [k["name"] for k in rest.json()["data"]] == ["one", "test"]
    assert rest.json()["pagination"] == {"limit": 20, "next_cursor": None}

    bad_cursor = await tenant.get("/admin/organization-pats", params={"cursor": "nope"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "invalid_cursor"
    too_many = await tenant.get("/admin/organization-pats", params={"limit": 101})
    assert too_many.status_code == 422 and too_many.json()["code"] == "validation_error"
