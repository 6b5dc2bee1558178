"""PostgreSQL runs the analytics' two statements at once on two connections sharing one snapshot
(`AnalyticsRepository.read`): the same answer as one after the other, no write between them
seen by one and not the other, and both connections back in the pool whatever happens."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.analytics.repository import AnalyticsRepository, Group, Window
from callplane.analytics.service import AnalyticsService
from callplane.db.engine import Database
from tests.analytics.test_analytics_api import DAY0, iso, records, setup
from tests.factories import Tenant

START, END = DAY0 - timedelta(days=1), DAY0 + timedelta(days=5)


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("SQLite runs the two statements one after the other")


async def answer(tenant: Tenant, session: AsyncSession) -> bytes:
    return await AnalyticsService(session, tenant.organization_id).conversations(
        agent_id=None, version_id=None, start=START, end=END, interval="hour"
    )


async def concurrent(tenant: Tenant, database: Database) -> bytes:
    async with database.session(write=False) as session:
        return await answer(tenant, session)


async def serial(tenant: Tenant, database: Database) -> bytes:
    """A session bound to one connection reads the two statements on it, in turn."""
    async with database.engine.connect() as connection:
        return await answer(tenant, AsyncSession(bind=connection))


async def test_the_same_answer_as_one_statement_after_the_other(
    tenant: Tenant, database: Database
) -> None:
    await setup(tenant, count=80)
    expected = await serial(tenant, database)
    assert await concurrent(tenant, database) == expected
    assert sum(bucket["total"] for bucket in orjson.loads(expected)["buckets"]) == 80


async def test_a_write_between_the_statements_is_seen_by_neither(
    tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id, _, versions = await setup(tenant, count=40)
    before = await serial(tenant, database)
    groups = AnalyticsRepository.groups

    async def write_first(
        self: AnalyticsRepository, window: Window, connection: Any
    ) -> list[Group]:
        """Commits a conversation (a long one: it moves the ranks too) once the snapshot is
        exported and the histogram sent, before the counts statement runs."""
        row = records(agent_id, [versions[0]["id"]], 1, seed=3)[0]
        row |= {"started_at": iso(DAY0 + timedelta(hours=5)), "duration_seconds": 80000.0}
        response = await tenant.post("/core/conversations/import", json={"conversations": [row]})
        assert response.status_code == 201, response.text
        return await groups(self, window, connection)

    monkeypatch.setattr(AnalyticsRepository, "groups", write_first)
    assert await concurrent(tenant, database) == before
    monkeypatch.undo()
    after = await concurrent(tenant, database)
    assert after != before and after == await serial(tenant, database)


@pytest.mark.parametrize("failing", ["groups", "quantiles"])
async def test_both_connections_go_back_to_the_pool_on_an_error(
    tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    await setup(tenant, count=10)
    used: list[Any] = []

    def spy(name: str) -> Any:
        original = getattr(AnalyticsRepository, name)

        async def read(self: AnalyticsRepository, window: Window, connection: Any) -> Any:
            used.append(connection)
            result = await original(self, window, connection)
            if name == failing:
                raise RuntimeError("boom")
            return result

        return read

    for name in ("groups", "quantiles"):
        monkeypatch.setattr(AnalyticsRepository, name, spy(name))
    with pytest.raises(RuntimeError, match="boom"):
        await concurrent(tenant, database)
    assert len(used) == 2 and used[0] is not used[1]
    assert all(connection.closed for connection in used)


async def test_one_agents_window_reads_on_the_sessions_connection(
    tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its counts are a few rows: a second connection would cost more than it saves."""
    agent_id, _, _ = await setup(tenant, count=10)
    used: list[Any] = []
    groups = AnalyticsRepository.groups

    async def spy(self: AnalyticsRepository, window: Window, connection: Any) -> list[Group]:
        used.append(connection)
        return await groups(self, window, connection)

    monkeypatch.setattr(AnalyticsRepository, "groups", spy)
    async with database.session(write=False) as session:
        await AnalyticsService(session, tenant.organization_id).conversations(
            agent_id=uuid.UUID(agent_id), version_id=None, start=START, end=END, interval="day"
        )
        assert used == [await session.connection()]
