"""`Idempotency-Key`: a retry replays the stored answer instead of running again."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select, update

from callplane.auth.credentials import parse_credential
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.idempotency.errors import IdempotencyKeyInFlight
from callplane.idempotency.repository import RecordId, mark_committed, release
from callplane.kit.middleware import BODY_METHODS
from callplane.models import IdempotencyKey
from tests.factories import Tenant


async def agent_names(tenant: Tenant) -> list[str]:
    response = await tenant.get("/core/agents", params={"limit": 100})
    assert response.status_code == 200
    return [agent["name"] for agent in response.json()["data"]]


def key_headers(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or f"key-{uuid.uuid4()}"}


def record_id(tenant: Tenant, key: str) -> RecordId:
    """The record of `key` sent with the tenant's API key."""
    parsed = parse_credential(tenant.api_key)
    assert parsed is not None
    return RecordId(tenant.organization_id, parsed.credential_id, key)


async def test_retry_replays_and_creates_once(tenant: Tenant) -> None:
    headers = key_headers()
    first = await tenant.post("/core/agents", json={"name": "Once"}, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers

    second = await tenant.post("/core/agents", json={"name": "Once"}, headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert await agent_names(tenant) == ["Once"]


async def test_replay_of_a_delete(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    headers = key_headers()
    first = await tenant.delete(f"/core/agents/{agent['id']}", headers=headers)
    second = await tenant.delete(f"/core/agents/{agent['id']}", headers=headers)
    assert first.status_code == second.status_code == 204
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == b""
    # Without the key the same delete runs again and finds nothing.
    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 404


async def test_same_key_different_body_is_422(tenant: Tenant) -> None:
    headers = key_headers()
    assert (
        await tenant.post("/core/agents", json={"name": "A"}, headers=headers)
    ).status_code == 201
    response = await tenant.post("/core/agents", json={"name": "B"}, headers=headers)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was used with a different request.",
        "code": "idempotency_key_reused",
    }
    assert await agent_names(tenant) == ["A"]


async def test_same_key_different_path_or_method_is_422(tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Target")
    headers = key_headers()
    first = await tenant.put(f"/core/agents/{agent['id']}", json={"name": "X"}, headers=headers)
    assert first.status_code == 200
    response = await tenant.post("/core/agents", json={"name": "X"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    other = await tenant.create_agent(name="Other")
    response = await tenant.put(f"/core/agents/{other['id']}", json={"name": "X"}, headers=headers)
    assert response.status_code == 422
    assert sorted(await agent_names(tenant)) == ["Other", "X"]


async def test_keys_are_per_organization(tenant: Tenant, other_tenant: Tenant) -> None:
    headers = key_headers("shared-key")
    first = await tenant.post("/core/agents", json={"name": "Mine"}, headers=headers)
    theirs = await other_tenant.post("/core/agents", json={"name": "Mine"}, headers=headers)
    assert first.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != first.json()["id"]
    assert await agent_names(tenant) == ["Mine"]
    assert await agent_names(other_tenant) == ["Mine"]


async def test_a_4xx_answer_is_replayed_too(tenant: Tenant) -> None:
    headers = key_headers()
    first = await tenant.post("/core/agents", json={"name": ""}, headers=headers)
    assert first.status_code == 422
    second = await tenant.post("/core/agents", json={"name": ""}, headers=headers)
    assert second.status_code == 422
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()

    missing = f"/core/agents/{uuid.uuid4()}"
    headers = key_headers()
    first = await tenant.put(missing, json={"name": "x"}, headers=headers)
    second = await tenant.put(missing, json={"name": "x"}, headers=headers)
    assert first.status_code == second.status_code == 404
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    assert await agent_names(tenant) == []


async def test_key_is_optional_and_ignored_on_reads(tenant: Tenant) -> None:
    await tenant.create_agent(name="R")
    headers = key_headers()
    first = await tenant.get("/core/agents", headers=headers)
    second = await tenant.get("/core/agents", headers=headers)
    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in second.headers


@pytest.mark.parametrize("key", ["k" * 256, "k" * 300, "has space", "tab\tkey", "ünicode"])
async def test_invalid_key_is_400(tenant: Tenant, key: str) -> None:
    response = await tenant.post(
        "/core/agents", json={"name": "Never"}, headers={"Idempotency-Key": key.encode()}
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Idempotency-Key must be 1-255 printable ASCII characters.",
        "code": "invalid_idempotency_key",
    }
    assert "x-request-id" in response.headers
    assert await agent_names(tenant) == []


async def test_empty_key_is_400(tenant: Tenant) -> None:
    response = await tenant.post(
        "/core/agents", json={"name": "Never"}, headers={"Idempotency-Key": ""}
    )
    assert response.status_code == 400
    assert await agent_names(tenant) == []


async def test_longest_valid_key_works(tenant: Tenant) -> None:
    headers = key_headers("~" * 255)
    first = await tenant.post("/core/agents", json={"name": "Long"}, headers=headers)
    second = await tenant.post("/core/agents", json={"name": "Long"}, headers=headers)
    assert first.status_code == 201 and second.headers["idempotent-replayed"] == "true"
    assert await agent_names(tenant) == ["Long"]


async def _mark_in_flight(
    database: Database, tenant: Tenant, key: str, *, locked_for: timedelta, committed: bool = False
) -> None:
    """Make a finished request look as if it were still running (or had died before its
    transaction committed: no commit mark)."""
    async with database.session(write=True) as session, session.begin():
        result = await session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.organization_id == tenant.organization_id,
                IdempotencyKey.key == key,
            )
            .values(
                response_status=None,
                response_headers=None,
                response_body=None,
                committed_at=utcnow() if committed else None,
                locked_until=utcnow() + locked_for,
            )
        )
        assert result.rowcount == 1


async def test_retry_while_the_first_is_in_flight_is_409(
    tenant: Tenant, database: Database
) -> None:
    key = f"key-{uuid.uuid4()}"
    assert (
        await tenant.post("/core/agents", json={"name": "Slow"}, headers=key_headers(key))
    ).status_code == 201
    await _mark_in_flight(database, tenant, key, locked_for=timedelta(minutes=1))

    response = await tenant.post("/core/agents", json={"name": "Slow"}, headers=key_headers(key))
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A request with this Idempotency-Key is still being processed.",
        "code": "idempotency_key_in_flight",
    }
    assert await agent_names(tenant) == ["Slow"]


async def test_in_flight_reservation_for_another_request_is_422(
    tenant: Tenant, database: Database
) -> None:
    """A key reserved by a different request is a reuse (422), even while that one runs."""
    key = f"key-{uuid.uuid4()}"
    async with database.session(write=True) as session, session.begin():
        session.add(
            IdempotencyKey(
                organization_id=tenant.organization_id,
                credential_id=record_id(tenant, key).credential_id,
                key=key,
                request_hash=b"\0" * 32,
                locked_until=utcnow() + timedelta(minutes=1),
                created_at=utcnow(),
            )
        )
    response = await tenant.post("/core/agents", json={"name": "X"}, headers=key_headers(key))
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert await agent_names(tenant) == []


async def test_concurrent_duplicates_create_once(tenant: Tenant) -> None:
    """Simultaneous retries: one runs; the others are told it is in flight or get its answer."""
    headers = key_headers()
    responses = await asyncio.gather(
        *(tenant.post("/core/agents", json={"name": "Raced"}, headers=headers) for _ in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    fresh = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(fresh) == 1
    for response in responses:
        if response.status_code == 201:
            assert response.json()["id"] == fresh[0].json()["id"]
    assert await agent_names(tenant) == ["Raced"]


async def test_a_dead_first_attempt_is_taken_over(tenant: Tenant, database: Database) -> None:
    """When the reservation's lock has lapsed with no answer stored, a retry runs again."""
    key = f"key-{uuid.uuid4()}"
    agent = await tenant.create_agent(name="Old")
    url = f"/core/agents/{agent['id']}"
    assert (
        await tenant.put(url, json={"name": "New"}, headers=key_headers(key))
    ).status_code == 200
    await _mark_in_flight(database, tenant, key, locked_for=-timedelta(seconds=1))

    retry = await tenant.put(url, json={"name": "New"}, headers=key_headers(key))
    assert retry.status_code == 200
    assert "idempotent-replayed" not in retry.headers
    async with database.session(write=False) as session:
        row = (
            await session.scalars(
                select(IdempotencyKey).where(
                    IdempotencyKey.organization_id == tenant.organization_id,
                    IdempotencyKey.key == key,
                )
            )
        ).one()
    assert row.response_status == 200
    replay = await tenant.put(url, json={"name": "New"}, headers=key_headers(key))
    assert replay.headers["idempotent-replayed"] == "true"


async def test_expired_record_runs_again(tenant: Tenant, database: Database) -> None:
    """After 24 h a key is forgotten: the same request runs as new."""
    key = f"key-{uuid.uuid4()}"
    assert (
        await tenant.post("/core/agents", json={"name": "Day1"}, headers=key_headers(key))
    ).status_code == 201
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.organization_id == tenant.organization_id,
                IdempotencyKey.key == key,
            )
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    again = await tenant.post("/core/agents", json={"name": "Day1"}, headers=key_headers(key))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert await agent_names(tenant) == ["Day1", "Day1"]


async def test_unauthenticated_request_with_a_key_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    key = f"key-{uuid.uuid4()}"
    response = await client.post("/core/agents", json={"name": "x"}, headers=key_headers(key))
    assert response.status_code == 401
    async with database.session(write=False) as session:
        rows = (
            await session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key))
        ).all()
    assert rows == []
    # The key is still free for the real request.
    created = await tenant.post("/core/agents", json={"name": "x"}, headers=key_headers(key))
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers


async def test_work_that_committed_is_never_run_again(tenant: Tenant, database: Database) -> None:
    headers = {"Idempotency-Key": "commit-then-crash"}
    first = await tenant.post("/core/agents", json={"name": "Once"}, headers=headers)
    assert first.status_code == 201
    # A crash between the request's commit and the storing of its response:
    await _mark_in_flight(
        database, tenant, "commit-then-crash", locked_for=-timedelta(seconds=1), committed=True
    )
    retry = await tenant.post("/core/agents", json={"name": "Once"}, headers=headers)
    assert retry.status_code == 409
    assert retry.json()["code"] == "idempotency_key_response_lost"
    names = [a["name"] for a in (await tenant.get("/core/agents")).json()["data"]]
    assert names == ["Once"]


async def test_work_that_never_committed_runs_on_retry(tenant: Tenant, database: Database) -> None:
    """No commit mark on an expired reservation means the first attempt's transaction never
    committed (the mark is written in it): the retry runs. Simulated by erasing the mark."""
    headers = {"Idempotency-Key": "died-uncommitted"}
    first = await tenant.post("/core/agents", json={"name": "Again"}, headers=headers)
    assert first.status_code == 201
    async with database.session(write=True) as session, session.begin():
        row = (
            await session.scalars(
                select(IdempotencyKey).where(*record_id(tenant, "died-uncommitted").where())
            )
        ).one()
        assert row is not None and row.committed_at is not None  # written with the agent
        row.committed_at = None
        row.response_status = None
        row.locked_until = utcnow() - timedelta(seconds=1)
    retry = await tenant.post("/core/agents", json={"name": "Again"}, headers=headers)
    assert retry.status_code == 201
    assert await agent_names(tenant) == ["Again", "Again"]


async def test_a_5xx_after_the_commit_keeps_the_key(tenant: Tenant, database: Database) -> None:
    """The work committed, then the response failed: the key is not freed for a rerun, but its
    lock is, so a retry learns at once that the response was lost (not "in flight" for 60 s)."""
    first = await tenant.post("/core/agents", json={"name": "Kept"}, headers=key_headers("k5"))
    assert first.status_code == 201
    await _mark_in_flight(database, tenant, "k5", locked_for=timedelta(seconds=60), committed=True)
    await release(database, record_id(tenant, "k5"))
    retry = await tenant.post("/core/agents", json={"name": "Kept"}, headers=key_headers("k5"))
    assert retry.status_code == 409
    assert retry.json()["code"] == "idempotency_key_response_lost"
    assert await agent_names(tenant) == ["Kept"]


async def test_a_second_commit_under_one_key_is_refused(tenant: Tenant, database: Database) -> None:
    """A slow first attempt outlived its lock and a retry committed meanwhile: the first one's
    transaction is refused (and rolls back) instead of committing the work twice."""
    first = await tenant.post("/core/agents", json={"name": "Once"}, headers=key_headers("k6"))
    assert first.status_code == 201
    state = SimpleNamespace(idempotency_reservation=record_id(tenant, "k6"))
    async with database.session(write=True) as session, session.begin():
        with pytest.raises(IdempotencyKeyInFlight):
            await mark_committed(session, state)


def test_every_write_documents_the_key_and_its_answers(app_client: httpx.AsyncClient) -> None:
    """The header lives in a middleware, outside the routes: the OpenAPI still shows it (and the
    fuzzer sends it) on every write, and nowhere else."""
    document = app_client.app.openapi()  # type: ignore[attr-defined]
    writes = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
            documented = [p for p in headers if p["name"] == "Idempotency-Key"]
            if method.upper() not in BODY_METHODS:
                assert documented == [], (method, path)
                continue
            writes += 1
            assert len(documented) == 1, (method, path)
            assert re.fullmatch(documented[0]["schema"]["pattern"], "k" * 255), (method, path)
            assert not re.fullmatch(documented[0]["schema"]["pattern"], "k y"), (method, path)
            for status in ("400", "409", "422"):
                schema = json.dumps(operation["responses"][status])
                assert "ErrorBody" in schema, (method, path, status)
    routes = [r for r in app_client.app.routes if isinstance(r, APIRoute) and r.include_in_schema]  # type: ignore[attr-defined]
    assert writes == sum(len(r.methods & BODY_METHODS) for r in routes) > 0
