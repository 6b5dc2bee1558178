"""`Idempotency-Key` records belong to the credential that made them, and a replay is served only
after the caller passes authorization for the route now (ADR 0004): a weaker key resending an
admin's request under the admin's key must not receive the admin's answer (a new API key, a
webhook's signing secret), and a refusal (401/403) is never stored to be replayed to anyone."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import Request
from sqlalchemy import select, update

from callplane.auth.authenticator import Authenticator
from callplane.auth.scopes import Scope
from callplane.db.engine import Database
from callplane.idempotency.repository import RecordId
from callplane.models import ApiKey, IdempotencyKey, Membership, Webhook
from callplane.workflows.service import derive_workflow_id
from tests.factories import Tenant

CREATE_KEY = ("/admin/organization-pats", {"name": "deploy bot", "scopes": None})
CREATE_WEBHOOK = (
    "/core/webhooks",
    {"url": "http://127.0.0.1:9/hook", "events": ["agent.created"]},
)
SECRET_FIELD = {"/admin/organization-pats": "pat_key", "/core/webhooks": "secret"}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def records(database: Database, key: str) -> list[IdempotencyKey]:
    async with database.session(write=False) as session:
        query = select(IdempotencyKey).where(IdempotencyKey.key == key)
        return list((await session.scalars(query)).all())


async def created_count(database: Database, tenant: Tenant, path: str) -> int:
    model: Any = ApiKey if path == "/admin/organization-pats" else Webhook
    async with database.session(write=False) as session:
        rows = await session.scalars(
            select(model.id).where(model.organization_id == tenant.organization_id)
        )
        return len(rows.all())


def assert_refused(response: httpx.Response, path: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    assert "idempotent-replayed" not in response.headers
    assert SECRET_FIELD[path] not in response.text


async def test_a_weaker_key_cannot_replay_an_admins_secret(
    tenant: Tenant, database: Database
) -> None:
    """The attack: an `agents:read` key resends the admin's create with the admin's key."""
    weak = await tenant.key_with(Scope.AGENTS_READ)
    for path, body in (CREATE_KEY, CREATE_WEBHOOK):
        before = await created_count(database, tenant, path)
        key = f"admin-{uuid.uuid4().hex}"
        first = await tenant.post(path, json=body, headers=keyed({}, key))
        assert first.status_code == 201, first.text
        secret = first.json()[SECRET_FIELD[path]]

        stolen = await tenant.client.post(path, json=body, headers=keyed(weak, key))
        assert_refused(stolen, path)
        assert secret not in stolen.text

        again = await tenant.post(path, json=body, headers=keyed({}, key))
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert await created_count(database, tenant, path) == before + 1


async def test_a_weaker_keys_refusal_is_not_replayed_to_the_admin(
    tenant: Tenant, database: Database
) -> None:
    """The other way round: the weak key's 403 is not stored; the admin's request runs."""
    weak = await tenant.key_with(Scope.AGENTS_READ)
    for path, body in (CREATE_KEY, CREATE_WEBHOOK):
        before = await created_count(database, tenant, path)
        key = f"weak-first-{uuid.uuid4().hex}"
        refused = await tenant.client.post(path, json=body, headers=keyed(weak, key))
        assert_refused(refused, path)
        assert await records(database, key) == []

        admin = await tenant.post(path, json=body, headers=keyed({}, key))
        assert admin.status_code == 201, admin.text
        assert "idempotent-replayed" not in admin.headers
        assert admin.json()[SECRET_FIELD[path]]
        assert await created_count(database, tenant, path) == before + 1

        # The weak key, again: still its own fresh 403, never the admin's answer.
        assert_refused(await tenant.client.post(path, json=body, headers=keyed(weak, key)), path)


async def test_a_refusal_from_inside_the_route_is_not_stored(
    tenant: Tenant, database: Database
) -> None:
    """A key may only grant scopes it holds: that 403 comes from the route itself, after the
    key was reserved; it is released, not stored."""
    manager = await tenant.key_with(Scope.API_KEYS_MANAGE)
    key = f"k-{uuid.uuid4().hex}"
    body = {"name": "too strong", "scopes": [Scope.AGENTS_MANAGE]}
    refused = await tenant.client.post(
        "/admin/organization-pats", json=body, headers=keyed(manager, key)
    )
    assert refused.status_code == 403, refused.text
    assert await records(database, key) == []
    again = await tenant.client.post(
        "/admin/organization-pats", json=body, headers=keyed(manager, key)
    )
    assert again.status_code == 403 and "idempotent-replayed" not in again.headers


async def test_an_unauthenticated_request_is_not_stored(
    client: httpx.AsyncClient, database: Database
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    bad = {"Authorization": "Bearer ak_00000000000000000000000000000000.nope"}
    for headers in ({}, bad):
        response = await client.post(
            "/core/agents", json={"name": "x"}, headers=keyed(headers, key)
        )
        assert response.status_code == 401
    assert await records(database, key) == []


async def test_each_credential_has_its_own_records(tenant: Tenant, database: Database) -> None:
    """Two credentials of one organization under one key: two requests, each replayed to its
    own sender only."""
    key = f"shared-{uuid.uuid4().hex}"
    other = await tenant.key_with(*[scope.value for scope in Scope])
    mine = await tenant.post("/core/agents", json={"name": "Twice"}, headers=keyed({}, key))
    theirs = await tenant.client.post(
        "/core/agents", json={"name": "Twice"}, headers=keyed(other, key)
    )
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    for headers, expected in (({**tenant.headers}, mine), (other, theirs)):
        replay = await tenant.client.post(
            "/core/agents", json={"name": "Twice"}, headers=keyed(headers, key)
        )
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == expected.json()
    assert len(await records(database, key)) == 2


async def test_a_caller_that_lost_the_scope_gets_403_not_its_replay(
    tenant: Tenant, database: Database
) -> None:
    """Scopes are checked now, not when the record was made: an admin demoted to viewer
    retries its own create and is refused."""
    key = f"k-{uuid.uuid4().hex}"
    headers = keyed(tenant.token_headers, key)
    first = await tenant.client.post("/core/agents", json={"name": "Before"}, headers=headers)
    assert first.status_code == 201, first.text
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(Membership)
            .where(
                Membership.user_id == tenant.user_id,
                Membership.organization_id == tenant.organization_id,
            )
            .values(role="viewer")
        )
    # The cached role lives at most auth_cache_ttl_seconds; a fresh authenticator skips the wait.
    state = tenant.client.app.state  # type: ignore[attr-defined]
    state.authenticator = Authenticator(database, ttl_seconds=2.0)
    retry = await tenant.client.post("/core/agents", json={"name": "Before"}, headers=headers)
    assert retry.status_code == 403, retry.text
    assert "idempotent-replayed" not in retry.headers


def test_a_workflow_started_under_a_key_belongs_to_its_credential() -> None:
    """Workflow ids derive from the request's record: a retry (same record) finds its run;
    another credential's request under the same key starts its own."""
    organization, mine, theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def request_of(credential: uuid.UUID) -> Request:
        reserved = RecordId(organization, credential, "k")
        return Request(
            {
                "type": "http",
                "method": "POST",
                "path": "/core/agents/create-demo",
                "query_string": b"",
                "headers": [],
                "state": {"idempotency_reservation": reserved},
            }
        )

    assert derive_workflow_id(request_of(mine)) == derive_workflow_id(request_of(mine))
    assert derive_workflow_id(request_of(mine)) != derive_workflow_id(request_of(theirs))
