"""The credentials cache (ADR 0003) across processes: a revocation takes effect at once in the
process that revoked and within `auth_cache_ttl_seconds` (≤ 5 s, the SPEC's bound) in every
other; a removed membership, a changed role or scopes, a deleted organization likewise within
the TTL, and never later. Two apps on one database with a short TTL stand for two processes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import delete, update

from callplane.config import Settings
from callplane.models import ApiKey, Membership, Organization
from tests.apps import another_app
from tests.factories import Tenant

TTL = 0.4


async def _within_ttl(check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `check` holds, failing if that takes longer than the TTL (and a margin
    for the machine)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < TTL + 0.5, "still accepted past the TTL"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def _status(
    client: httpx.AsyncClient, headers: dict[str, str], url: str = "/core/agents"
) -> Callable[[], Awaitable[int]]:
    async def status() -> int:
        return (await client.get(url, headers=headers)).status_code

    return status


def _key_id(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ak_").split(".")[0]


async def test_a_revocation_is_at_once_here_and_within_the_ttl_in_another_process(
    settings: Settings, tenant: Tenant
) -> None:
    async with (
        another_app(settings, auth_cache_ttl_seconds=TTL) as first,
        another_app(settings, auth_cache_ttl_seconds=TTL) as second,
    ):
        for revoker, other in ((first, second), (second, first)):
            key = await tenant.key_with("agents:read")
            for client in (revoker, other):  # both have it cached now
                assert await _status(client, key)() == 200
            revoked = await revoker.delete(
                f"/admin/organization-pats/{_key_id(key)}", headers=tenant.headers
            )
            assert revoked.status_code == 204, revoked.text
            assert await _status(revoker, key)() == 401  # at once where it was revoked

            async def refused(client: httpx.AsyncClient = other, key: dict[str, str] = key) -> bool:
                return await _status(client, key)() == 401

            await _within_ttl(refused)
            assert await _status(revoker, key)() == 401


async def test_scopes_membership_and_role_written_elsewhere_reach_every_process_within_the_ttl(
    settings: Settings, tenant: Tenant
) -> None:
    """No endpoint changes these (a script or another tool may): every process follows within
    the TTL, the one that cached it first included."""
    key = await tenant.key_with("agents:read", "agents:manage")
    token = tenant.token_headers
    async with (
        another_app(settings, auth_cache_ttl_seconds=TTL) as first,
        another_app(settings, auth_cache_ttl_seconds=TTL) as second,
    ):
        apps = (first, second)
        for client in apps:
            assert await _status(client, key, "/core/phone-numbers")() == 403
            assert await _status(client, token)() == 200
            created = await client.post("/core/agents", json={"name": "x"}, headers=token)
            assert created.status_code == 201

        async with tenant.database.session(write=True) as session, session.begin():
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == uuid.UUID(_key_id(key)))
                .values(scopes=["phone_numbers:read"])
            )
            await session.execute(
                update(Membership).where(Membership.user_id == tenant.user_id).values(role="viewer")
            )
        for client in apps:

            async def viewer(client: httpx.AsyncClient = client) -> bool:
                write = await client.post("/core/agents", json={"name": "y"}, headers=token)
                return write.status_code == 403

            async def rescoped(client: httpx.AsyncClient = client) -> bool:
                listed = await _status(client, key, "/core/phone-numbers")()
                return listed == 200 and await _status(client, key)() == 403

            await _within_ttl(viewer)
            await _within_ttl(rescoped)

        async with tenant.database.session(write=True) as session, session.begin():
            await session.execute(delete(Membership).where(Membership.user_id == tenant.user_id))
        for client in apps:

            async def removed(client: httpx.AsyncClient = client) -> bool:
                return await _status(client, token)() == 403

            await _within_ttl(removed)


async def test_a_deleted_organization_answers_nothing_and_its_key_stops_within_the_ttl(
    settings: Settings, tenant: Tenant
) -> None:
    agent, _ = await tenant.published_agent()
    async with another_app(settings, auth_cache_ttl_seconds=TTL) as other:
        detail = f"/core/agents/{agent['id']}"
        assert await _status(other, tenant.headers, detail)() == 200
        async with tenant.database.session(write=True) as session, session.begin():
            await session.execute(
                delete(Organization).where(Organization.id == tenant.organization_id)
            )
        # While the key is still trusted, what it reaches is gone: never the old agent.
        assert await _status(other, tenant.headers, detail)() in (401, 404)

        async def refused() -> bool:
            return await _status(other, tenant.headers)() == 401

        await _within_ttl(refused)


def test_the_ttl_cannot_be_set_past_the_specs_bound() -> None:
    with pytest.raises(ValidationError):
        Settings(env="test", auth_cache_ttl_seconds=5.5)
    assert Settings(env="test").auth_cache_ttl_seconds <= 5
