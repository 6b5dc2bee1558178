"""A database that is busy or unreachable is the client's cue to retry (503 + Retry-After),
not a bug report (500): unreachable PostgreSQL, SQLite's write lock not granted, and the
PostgreSQL states a retry can cure."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callplane.config import Settings
from callplane.db import engine as db_engine
from callplane.db.engine import Database, is_transient
from tests.apps import another_app
from tests.conftest import POSTGRES
from tests.factories import Tenant

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/callplane"


def _assert_retry_later(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-request-id"]


async def test_unreachable_postgres_is_503_on_every_path(settings: Settings) -> None:
    """Through the session (auth), the raw-connection hot path, and a middleware that reads the
    database before any route runs (Idempotency-Key)."""
    headers = {"Authorization": "Bearer ak_0123456789abcdef0123456789abcdef.secret"}
    async with another_app(
        settings, database_url=UNREACHABLE, raise_app_exceptions=False
    ) as client:
        _assert_retry_later(await client.get("/core/agents", headers=headers))
        _assert_retry_later(
            await client.get("/core/agents/01a2244b-4217-7412-bad1-f538ab1badcc", headers=headers)
        )
        _assert_retry_later(
            await client.post(
                "/core/agents",
                json={"name": "x"},
                headers={**headers, "Idempotency-Key": "unreachable-1"},
            )
        )
        ready = await client.get("/ready")
        assert ready.status_code == 503  # the readiness probe says so too


@pytest.mark.skipif(POSTGRES, reason="SQLite's single writer lock")
async def test_sqlite_write_lock_not_granted_is_503_and_changes_nothing(
    settings: Settings, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 200)  # the new app's connections
    async with another_app(settings, raise_app_exceptions=False) as client:
        # Another writer holds the write lock (BEGIN IMMEDIATE on its first statement).
        async with database.session(write=True) as holder, holder.begin():
            await holder.execute(text("SELECT 1"))
            started = time.monotonic()
            refused = await client.post(
                "/core/agents", json={"name": "Locked out"}, headers=tenant.headers
            )
            _assert_retry_later(refused)
            assert time.monotonic() - started < 5
        created = await client.post("/core/agents", json={"name": "Let in"}, headers=tenant.headers)
        assert created.status_code == 201, created.text
    names = [a["name"] for a in (await tenant.get("/core/agents")).json()["data"]]
    assert names == ["Let in"]


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's lock_timeout")
async def test_postgres_retryable_states_are_transient_and_bugs_are_not(
    database: Database, tenant: Tenant
) -> None:
    """Real errors from a real server, through SQLAlchemy and straight from asyncpg."""
    agent = await tenant.create_agent()
    lock = text("SELECT 1 FROM agents WHERE id = :id FOR UPDATE")
    async with database.engine.connect() as holder, database.engine.connect() as waiter:
        await holder.execute(lock, {"id": agent["id"]})
        await waiter.execute(text("SET lock_timeout = '50ms'"))
        with pytest.raises(DBAPIError) as through_sqlalchemy:
            await waiter.execute(lock, {"id": agent["id"]})
        await waiter.rollback()
        assert is_transient(through_sqlalchemy.value)

        raw = await database.engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            await driver.execute("SET lock_timeout = '50ms'")
            with pytest.raises(asyncpg.exceptions.LockNotAvailableError) as straight:
                await driver.fetchval("SELECT 1 FROM agents WHERE id = $1 FOR UPDATE", agent["id"])
            assert is_transient(straight.value)
            with pytest.raises(asyncpg.exceptions.DivisionByZeroError) as bug:
                await driver.fetchval("SELECT 1 / 0")
            assert not is_transient(bug.value)
        finally:
            await asyncio.shield(driver.execute("RESET lock_timeout"))
            raw.close()
        await holder.rollback()
    with pytest.raises(DBAPIError) as syntax:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELEC 1"))
    assert not is_transient(syntax.value)
