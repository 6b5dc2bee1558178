"""Who may call: ak_ keys, pat_ tokens with X-Anyreach-Org, revocation, expiry, roles, scopes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from callplane.db.engine import Database
from callplane.models import ApiKey, PersonalAccessToken
from tests.factories import Tenant, TenantFactory

UNAUTHORIZED_CODE = "unauthorized"
READ_SCOPES = [
    "agents:read",
    "audit:read",
    "conversations:read",
    "knowledge_bases:read",
    "members:read",
    "phone_numbers:read",
    "web_widgets:read",
]


def assert_unauthorized(response: httpx.Response, detail: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == UNAUTHORIZED_CODE
    if detail is not None:
        assert body["detail"] == detail


def assert_forbidden(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": detail, "code": "forbidden"}


async def agent_names(tenant: Tenant) -> list[str]:
    response = await tenant.get("/core/agents")
    assert response.status_code == 200
    return [agent["name"] for agent in response.json()["data"]]


async def test_missing_authorization_is_401_with_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/core/agents")
    assert_unauthorized(response)
    assert "Authorization" in response.json()["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "nonsense",
        "Bearer nonsense",
        "Bearer ak_",
        "Bearer ak_not-hex.secret",
        "Bearer ak_" + "0" * 32,
        "Bearer ak_" + "0" * 32 + ".",
        "Bearer xk_" + "0" * 32 + ".secret",
        "Bearer ak_" + "0" * 32 + "." + "s" * 129,
    ],
)
async def test_malformed_credential_is_401(client: httpx.AsyncClient, authorization: str) -> None:
    response = await client.get("/core/agents", headers={"Authorization": authorization})
    assert_unauthorized(response)


async def test_unknown_credential_is_401(client: httpx.AsyncClient) -> None:
    for kind in ("ak", "pat"):
        credential = f"{kind}_{uuid.uuid4().hex}.{'x' * 43}"
        response = await client.get(
            "/core/agents", headers={"Authorization": f"Bearer {credential}"}
        )
        assert_unauthorized(response, "Invalid credential.")


async def test_wrong_secret_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    prefix, _, secret = tenant.api_key.partition(".")
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for credential in (f"{prefix}.{wrong}", f"{prefix}.{secret}x", prefix + "." + secret[:-1]):
        response = await client.get(
            "/core/agents", headers={"Authorization": f"Bearer {credential}"}
        )
        assert_unauthorized(response, "Invalid credential.")
    # The real key still works: the failures above were about the secret, nothing else.
    assert (await tenant.get("/core/agents")).status_code == 200


async def test_key_id_presented_as_the_other_kind_is_401(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """An ak_ id with a pat_ prefix (and vice versa) names no credential of that kind."""
    swapped_key = "pat_" + tenant.api_key.removeprefix("ak_")
    swapped_token = "ak_" + tenant.token.removeprefix("pat_")
    headers = {"X-Anyreach-Org": str(tenant.organization_id)}
    for credential in (swapped_key, swapped_token):
        response = await client.get(
            "/core/agents", headers={"Authorization": f"Bearer {credential}", **headers}
        )
        assert_unauthorized(response, "Invalid credential.")


async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(
        "/core/agents", headers={"Authorization": f"bearer {tenant.api_key}"}
    )
    assert response.status_code == 200


async def test_token_without_org_header_is_401_missing_claim(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for org_header in ({}, {"X-Anyreach-Org": ""}, {"X-Anyreach-Org": "   "}):
        response = await client.get(
            "/core/agents", headers={"Authorization": f"Bearer {tenant.token}", **org_header}
        )
        assert_unauthorized(response, "Token is missing organization claim.")


async def test_token_with_its_org_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/core/agents", json={"name": "Via PAT"}, headers=tenant.token_headers
    )
    assert response.status_code == 201, response.text
    assert await agent_names(tenant) == ["Via PAT"]


async def test_token_for_an_org_the_user_is_not_in_is_403(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for org in (other_tenant.organization_id, uuid.uuid4()):
        response = await client.post(
            "/core/agents",
            json={"name": "Intruder"},
            headers={"Authorization": f"Bearer {tenant.token}", "X-Anyreach-Org": str(org)},
        )
        assert_forbidden(response, "You are not a member of this organization.")
    assert await agent_names(other_tenant) == []


@pytest.mark.parametrize("org_header", ["not-a-uuid", "12345", "' OR 1=1 --", "0" * 33])
async def test_token_with_malformed_org_header_is_403(
    client: httpx.AsyncClient, tenant: Tenant, org_header: str
) -> None:
    response = await client.get(
        "/core/agents",
        headers={"Authorization": f"Bearer {tenant.token}", "X-Anyreach-Org": org_header},
    )
    assert_forbidden(response, "X-Anyreach-Org is not a valid organization id.")


async def test_api_key_with_another_orgs_header_is_403(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await tenant.post(
        "/core/agents",
        json={"name": "Cross"},
        headers={"X-Anyreach-Org": str(other_tenant.organization_id)},
    )
    assert_forbidden(response, "This API key belongs to a different organization.")
    assert await agent_names(tenant) == []
    assert await agent_names(other_tenant) == []


async def test_api_key_with_its_own_org_header_is_accepted(tenant: Tenant) -> None:
    response = await tenant.post(
        "/core/agents",
        json={"name": "Same org"},
        headers={"X-Anyreach-Org": str(tenant.organization_id)},
    )
    assert response.status_code == 201, response.text
    assert await agent_names(tenant) == ["Same org"]


async def test_revoked_key_is_refused_at_once(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The key is used first, so it sits in the in-process cache when it is revoked."""
    created = await tenant.post("/admin/organization-pats", json={"name": "doomed"})
    assert created.status_code == 201
    headers = {"Authorization": f"Bearer {created.json()['pat_key']}"}
    assert (await client.get("/core/agents", headers=headers)).status_code == 200

    revoked = await tenant.delete(f"/admin/organization-pats/{created.json()['key_id']}")
    assert revoked.status_code == 204

    response = await client.get("/core/agents", headers=headers)
    assert_unauthorized(response, "This credential has been revoked.")
    response = await client.post("/core/agents", json={"name": "late"}, headers=headers)
    assert_unauthorized(response, "This credential has been revoked.")
    assert await agent_names(tenant) == []


async def test_a_key_can_revoke_itself(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = (await tenant.post("/admin/organization-pats", json={"name": "self"})).json()
    headers = {"Authorization": f"Bearer {created['pat_key']}"}
    response = await client.delete(f"/admin/organization-pats/{created['key_id']}", headers=headers)
    assert response.status_code == 204
    assert_unauthorized(await client.get("/core/agents", headers=headers))


async def test_expired_key_is_401(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    from callplane.organizations.service import OrganizationService

    # The API refuses a past expiry (422): this key expired after it was made.
    async with database.session(write=True) as session, session.begin():
        organization = OrganizationService(session, tenant.organization_id)
        key, issued = await organization.create_api_key("expired")
        key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    headers = {"Authorization": f"Bearer {issued.credential}"}
    response = await client.get("/core/agents", headers=headers)
    assert_unauthorized(response, "This credential has expired.")


async def test_key_expiring_in_the_future_works(client: httpx.AsyncClient, tenant: Tenant) -> None:
    future_ms = int(time.time() * 1000) + 3_600_000
    created = await tenant.post(
        "/admin/organization-pats", json={"name": "later", "expires_at": future_ms}
    )
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['pat_key']}"}
    assert (await client.get("/core/agents", headers=headers)).status_code == 200


async def test_viewer_token_reads_everything_but_writes_nothing(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    viewer = await tenants.create(role="viewer")
    headers = viewer.token_headers
    scopes = await client.get("/admin/members/me/scopes", headers=headers)
    assert scopes.status_code == 200
    assert scopes.json() == READ_SCOPES

    for url in ("/core/agents", "/core/phone-numbers", "/core/web-widgets", "/core/conversations"):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)

    writes = [
        ("POST", "/core/agents", {"name": "nope"}, "agents:manage"),
        ("POST", "/core/phone-numbers", {"phone_number": "+14155550100"}, "phone_numbers:manage"),
        ("POST", "/admin/organization-pats", {"name": "nope"}, "api_keys:manage"),
    ]
    for method, url, body, scope in writes:
        response = await client.request(method, url, json=body, headers=headers)
        assert_forbidden(response, f"Missing scope: requires {scope}.")
    assert await agent_names(viewer) == []
    assert (await viewer.get("/core/phone-numbers")).json()["data"] == []
    listed = (await viewer.get("/admin/organization-pats")).json()["data"]
    assert len(listed) == 1  # the fixture's key


async def test_admin_token_carries_every_scope(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/admin/members/me/scopes", headers=tenant.token_headers)
    assert response.status_code == 200
    scopes = response.json()
    assert scopes == sorted(scopes) and len(scopes) == 17
    assert {"agents:manage", "api_keys:manage", "conversations:read_sensitive"} <= set(scopes)


async def test_role_is_per_organization(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    """The same user is admin in one org and viewer in another; the header picks the role."""
    from callplane.models import Membership
    from callplane.organizations.service import PlatformService

    async with database.session(write=True) as session, session.begin():
        second = await PlatformService(session).create_organization("Second")
        session.add(Membership(organization_id=second.id, user_id=tenant.user_id, role="viewer"))
    headers = {"Authorization": f"Bearer {tenant.token}", "X-Anyreach-Org": str(second.id)}
    response = await client.post("/core/agents", json={"name": "x"}, headers=headers)
    assert_forbidden(response, "Missing scope: requires agents:manage.")
    assert (await client.get("/admin/members/me/scopes", headers=headers)).json() == READ_SCOPES
    response = await client.post("/core/agents", json={"name": "x"}, headers=tenant.token_headers)
    assert response.status_code == 201


async def test_scoped_key_gets_403_naming_the_missing_scope(tenant: Tenant) -> None:
    read_only = await tenant.key_with("agents:read")
    response = await tenant.post("/core/agents", json={"name": "nope"}, headers=read_only)
    assert_forbidden(response, "Missing scope: requires agents:manage.")
    assert (await tenant.get("/core/agents", headers=read_only)).status_code == 200
    assert await agent_names(tenant) == []

    response = await tenant.get("/core/phone-numbers", headers=read_only)
    assert_forbidden(
        response, "Missing scope: requires phone_numbers:read or phone_numbers:manage."
    )


async def test_manage_scope_also_reads(tenant: Tenant) -> None:
    manage_only = await tenant.key_with("agents:manage")
    agent = await tenant.create_agent()
    assert (await tenant.get("/core/agents", headers=manage_only)).status_code == 200
    assert (await tenant.get(f"/core/agents/{agent['id']}", headers=manage_only)).status_code == 200


async def test_key_with_no_scopes_authenticates_but_may_do_nothing(tenant: Tenant) -> None:
    nothing = await tenant.key_with()
    assert (await tenant.get("/admin/members/me/scopes", headers=nothing)).json() == []
    response = await tenant.get("/core/agents", headers=nothing)
    assert_forbidden(response, "Missing scope: requires agents:read or agents:manage.")


def _decoded_length(secret: str) -> int:
    return len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))


async def test_api_key_secret_is_stored_only_as_sha256(tenant: Tenant, database: Database) -> None:
    created = (await tenant.post("/admin/organization-pats", json={"name": "hashed"})).json()
    credential = created["pat_key"]
    id_part, _, secret = credential.partition(".")
    assert id_part == f"ak_{created['key_id']}"
    assert _decoded_length(secret) >= 32  # at least 256 random bits

    async with database.session(write=False) as session:
        row = await session.get(ApiKey, uuid.UUID(created["key_id"]))
    assert row is not None
    assert bytes(row.secret_hash) == hashlib.sha256(secret.encode()).digest()
    stored = repr({column.key: getattr(row, column.key) for column in ApiKey.__table__.columns})
    assert secret not in stored and credential not in stored
    assert secret.encode() not in bytes(row.secret_hash)


async def test_token_secret_is_stored_only_as_sha256(tenant: Tenant, database: Database) -> None:
    id_part, _, secret = tenant.token.partition(".")
    token_id = uuid.UUID(hex=id_part.removeprefix("pat_"))
    async with database.session(write=False) as session:
        row = (
            await session.scalars(
                select(PersonalAccessToken).where(PersonalAccessToken.id == token_id)
            )
        ).one()
    assert bytes(row.secret_hash) == hashlib.sha256(secret.encode()).digest()
    columns = PersonalAccessToken.__table__.columns
    assert secret not in repr({column.key: getattr(row, column.key) for column in columns})
    assert _decoded_length(secret) >= 32


async def test_each_issued_secret_is_different(tenant: Tenant) -> None:
    secrets = set()
    for _ in range(5):
        created = (await tenant.post("/admin/organization-pats", json={"name": "k"})).json()
        secrets.add(created["pat_key"].partition(".")[2])
    assert len(secrets) == 5


async def test_revocation_during_a_lookup_is_not_undone_by_the_cache(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup that read the key before it was revoked must not cache that stale answer.

    Otherwise the revoked key keeps working in this very process for the cache's TTL.
    """
    from callplane.auth import repository

    created = (await tenant.post("/admin/organization-pats", json={"name": "racy"})).json()
    key_id = uuid.UUID(hex=created["key_id"])
    headers = {"Authorization": f"Bearer {created['pat_key']}"}
    read_done, resume = asyncio.Event(), asyncio.Event()
    original = repository.get_api_key

    async def slow_lookup(session: Any, credential_id: uuid.UUID) -> Any:
        key = await original(session, credential_id)
        if credential_id == key_id and not resume.is_set():
            read_done.set()
            await resume.wait()
        return key

    monkeypatch.setattr(repository, "get_api_key", slow_lookup)
    in_flight = asyncio.create_task(client.get("/core/agents", headers=headers))
    await asyncio.wait_for(read_done.wait(), timeout=10)
    revoked = await tenant.delete(f"/admin/organization-pats/{created['key_id']}")
    assert revoked.status_code == 204
    resume.set()
    assert (await in_flight).status_code == 200  # it started before the revocation

    response = await client.get("/core/agents", headers=headers)
    assert_unauthorized(response, "This credential has been revoked.")


async def test_expired_or_revoked_token_is_401(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    from callplane.models import User
    from callplane.organizations.service import PlatformService

    async with database.session(write=True) as session, session.begin():
        user = await session.get(User, tenant.user_id)
        assert user is not None
        platform = PlatformService(session)
        expired = await platform.create_token(
            user, "old", expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        revoked = await platform.create_token(user, "gone")
        token = await session.get(PersonalAccessToken, revoked.id)
        assert token is not None
        token.revoked_at = datetime.now(UTC)
    org = {"X-Anyreach-Org": str(tenant.organization_id)}
    response = await client.get(
        "/core/agents", headers={"Authorization": f"Bearer {expired.credential}", **org}
    )
    assert_unauthorized(response, "This credential has expired.")
    response = await client.get(
        "/core/agents", headers={"Authorization": f"Bearer {revoked.credential}", **org}
    )
    assert_unauthorized(response, "This credential has been revoked.")
