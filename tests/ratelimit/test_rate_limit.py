"""Rate limiting per credential: headers, 429s that change nothing, one budget across processes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from callplane.config import PRODUCTION_RATE_LIMIT, Settings
from callplane.db.engine import Database
from callplane.models import RateLimitWindow
from tests.apps import another_app
from tests.factories import Tenant

AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


# Tests that count within one window use an hour-long one and start well inside it: a fixed
# window admits a fresh budget at its boundary, so a burst that straddled one (a 60 s window's
# edge fell inside a CI run) would see up to twice the limit.
ONE_WINDOW_SECONDS = 3600
EDGE_MARGIN_SECONDS = 10


async def _clear_of_window_edge(window_seconds: int) -> None:
    left = window_seconds - time.time() % window_seconds
    if left < EDGE_MARGIN_SECONDS:
        await asyncio.sleep(left + 0.05)


@pytest.fixture
def limited_app(settings: Settings) -> AppFactory:
    """Another API process on the same database (its own engine, caches and counters). Unless a
    test chooses its window (to cross a boundary on purpose), requests fall in one window."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        if "rate_limit_window_seconds" not in overrides:
            overrides["rate_limit_window_seconds"] = ONE_WINDOW_SECONDS
            await _clear_of_window_edge(ONE_WINDOW_SECONDS)
        async with another_app(settings, **overrides) as client:
            yield client

    return start


async def test_headers_count_down_then_429_with_retry_after(
    limited_app: AppFactory, tenant: Tenant
) -> None:
    async with limited_app(rate_limit_requests=3) as client:
        remaining = []
        for _ in range(3):
            response = await client.get("/core/agents", headers=tenant.headers)
            assert response.status_code == 200
            assert response.headers["ratelimit-limit"] == "3"
            assert 1 <= int(response.headers["ratelimit-reset"]) <= ONE_WINDOW_SECONDS
            remaining.append(int(response.headers["ratelimit-remaining"]))
        assert remaining == [2, 1, 0]
        refused = await client.get("/core/agents", headers=tenant.headers)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["retry-after"]) <= ONE_WINDOW_SECONDS
        assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]


async def test_a_refused_write_changes_nothing(limited_app: AppFactory, tenant: Tenant) -> None:
    async with limited_app(rate_limit_requests=1) as client:
        first = await client.post("/core/agents", json={"name": "One"}, headers=tenant.headers)
        assert first.status_code == 201
        second = await client.post("/core/agents", json={"name": "Two"}, headers=tenant.headers)
        assert second.status_code == 429
    names = [a["name"] for a in (await tenant.get("/core/agents")).json()["data"]]
    assert names == ["One"]


async def test_each_credential_has_its_own_budget_and_public_routes_none(
    limited_app: AppFactory, tenant: Tenant
) -> None:
    other_key = await tenant.key_with("agents:read")
    async with limited_app(rate_limit_requests=1) as client:
        assert (await client.get("/core/agents", headers=tenant.headers)).status_code == 200
        assert (await client.get("/core/agents", headers=tenant.headers)).status_code == 429
        assert (await client.get("/core/agents", headers=other_key)).status_code == 200
        for _ in range(3):
            health = await client.get("/health")
            assert health.status_code == 200
            assert "ratelimit-limit" not in health.headers


async def test_processes_sharing_a_database_share_the_budget(
    limited_app: AppFactory, tenant: Tenant
) -> None:
    async with (
        limited_app(rate_limit_requests=4) as first,
        limited_app(rate_limit_requests=4) as second,
    ):
        statuses = []
        for client in (first, second, first, second, first, second):
            statuses.append((await client.get("/core/agents", headers=tenant.headers)).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]


async def test_concurrent_requests_never_exceed_the_limit(
    limited_app: AppFactory, tenant: Tenant
) -> None:
    async with (
        limited_app(rate_limit_requests=10) as first,
        limited_app(rate_limit_requests=10) as second,
    ):
        responses = await asyncio.gather(
            *(client.get("/core/agents", headers=tenant.headers) for client in [first, second] * 15)
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 20


async def test_memory_backend_counts_per_process(limited_app: AppFactory, tenant: Tenant) -> None:
    async with (
        limited_app(rate_limit_requests=1, rate_limit_backend="memory") as first,
        limited_app(rate_limit_requests=1, rate_limit_backend="memory") as second,
    ):
        assert (await first.get("/core/agents", headers=tenant.headers)).status_code == 200
        assert (await second.get("/core/agents", headers=tenant.headers)).status_code == 200
        assert (await first.get("/core/agents", headers=tenant.headers)).status_code == 429


async def test_the_next_window_starts_afresh(limited_app: AppFactory, tenant: Tenant) -> None:
    async with limited_app(rate_limit_requests=1, rate_limit_window_seconds=1) as client:
        await client.get("/core/agents", headers=tenant.headers)
        refused = await client.get("/core/agents", headers=tenant.headers)
        if refused.status_code == 200:  # the first request was the last of its window
            refused = await client.get("/core/agents", headers=tenant.headers)
        assert refused.status_code == 429
        await asyncio.sleep(float(refused.headers["retry-after"]) + 0.05)
        assert (await client.get("/core/agents", headers=tenant.headers)).status_code == 200


async def test_off_by_default_in_development(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert Settings(env="development").rate_limit_requests == 0
    response = await tenant.get("/core/agents")
    assert "ratelimit-limit" not in response.headers


def test_production_turns_it_on_unless_told_otherwise() -> None:
    pg = "postgresql+asyncpg://db.internal/callplane"
    assert Settings(env="production", database_url=pg).rate_limit_requests == PRODUCTION_RATE_LIMIT
    explicit = Settings(env="production", database_url=pg, rate_limit_requests=0)
    assert explicit.rate_limit_requests == 0


async def test_a_refused_request_with_an_idempotency_key_runs_on_retry(
    limited_app: AppFactory, tenant: Tenant
) -> None:
    """A 429 is not the request's answer: retried under the same key after Retry-After, it runs
    (a stored 429 would be replayed until the key expired)."""
    headers = {**tenant.headers, "Idempotency-Key": f"limited-{uuid.uuid4()}"}
    async with limited_app(rate_limit_requests=1, rate_limit_window_seconds=1) as client:
        refused = None
        for _ in range(3):
            response = await client.post("/core/agents", json={"name": "Later"}, headers=headers)
            if response.status_code == 429:
                refused = response
                break
            headers["Idempotency-Key"] = f"limited-{uuid.uuid4()}"
        assert refused is not None
        await asyncio.sleep(float(refused.headers["retry-after"]) + 0.05)
        retried = await client.post("/core/agents", json={"name": "Later"}, headers=headers)
        assert retried.status_code == 201, retried.text
        assert "idempotent-replayed" not in retried.headers


async def test_a_replay_is_a_request_like_any_other(
    limited_app: AppFactory, tenant: Tenant
) -> None:
    """Authorization, the limit included, runs before an Idempotency-Key replay: a replay is
    counted, carries the limit's headers, and is refused once the budget is spent."""
    headers = {**tenant.headers, "Idempotency-Key": f"replayed-{uuid.uuid4()}"}
    async with limited_app(rate_limit_requests=2) as client:
        first = await client.post("/core/agents", json={"name": "Counted"}, headers=headers)
        assert first.status_code == 201 and first.headers["ratelimit-remaining"] == "1"
        replay = await client.post("/core/agents", json={"name": "Counted"}, headers=headers)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["ratelimit-remaining"] == "0"
        refused = await client.post("/core/agents", json={"name": "Counted"}, headers=headers)
        assert refused.status_code == 429, refused.text
        assert "idempotent-replayed" not in refused.headers


async def test_large_budgets_are_charged_in_leases_and_never_overrun(
    limited_app: AppFactory, tenant: Tenant, database: Database
) -> None:
    """With budget to spare, a process charges the shared counter for several requests at once
    (one round trip for many); near the limit it charges one at a time, so two processes still
    admit exactly the limit."""
    key = await tenant.key_with("agents:read")
    async with (
        limited_app(rate_limit_requests=100) as first,
        limited_app(rate_limit_requests=100) as second,
    ):
        statuses = [
            (await client.get("/core/agents", headers=key)).status_code
            for client in [first, second] * 150
        ]
    assert statuses.count(200) == 100
    assert statuses[-20:] == [429] * 20
    credential_id = uuid.UUID(hex=key["Authorization"].split("_")[1].split(".")[0])
    async with database.session(write=False) as session:
        charged = await session.scalar(
            select(func.max(RateLimitWindow.hits)).where(
                RateLimitWindow.credential_id == credential_id
            )
        )
    # Every admission was charged first; what is charged beyond the limit was never admitted.
    assert charged is not None and charged >= 100


async def test_a_lease_covers_many_requests(limited_app: AppFactory, tenant: Tenant) -> None:
    key = await tenant.key_with("agents:read")
    async with limited_app(rate_limit_requests=10_000) as client:
        for _ in range(20):
            assert (await client.get("/core/agents", headers=key)).status_code == 200
        remaining = int(
            (await client.get("/core/agents", headers=key)).headers["ratelimit-remaining"]
        )
    # 21 admitted out of one lease of 50 (10,000 // 16 capped at 50): charged 50, 29 left in it.
    assert remaining == 10_000 - 50 + 29
