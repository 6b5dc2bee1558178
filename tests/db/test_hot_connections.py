"""The hot reads' kept connections (db.engine.HotConnections): reused, bounded, given back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from callplane.db.dialect import fetchrow
from callplane.db.engine import Database, create_engine


@pytest.fixture
async def postgres(database_url: str) -> Database:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's hot reads have read connections of their own")
    return Database(create_engine(database_url, pool_size=4))


async def test_a_kept_connection_serves_the_next_read_outside_any_transaction(
    postgres: Database,
) -> None:
    hot = postgres.hot_connections
    assert hot is not None and hot.limit == 2
    try:
        first = await fetchrow(postgres, "SELECT pg_backend_pid()")
        second = await fetchrow(postgres, "SELECT pg_backend_pid()")
        assert first[0] == second[0]  # the same connection, not checked out again
        assert postgres.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        # Each read is its own transaction (it sees what was committed before it): no snapshot
        # is left open on the kept connection between reads.
        before = await fetchrow(postgres, "SELECT now()")
        await asyncio.sleep(0.01)
        after = await fetchrow(postgres, "SELECT now()")
        assert after[0] > before[0]  # now() is the transaction's start: a new one
    finally:
        await postgres.dispose()
    assert postgres.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_at_most_the_limit_is_kept_and_a_failed_statement_gives_its_connection_back(
    postgres: Database,
) -> None:
    hot = postgres.hot_connections
    assert hot is not None
    try:
        pids = await asyncio.gather(
            *(fetchrow(postgres, "SELECT pg_backend_pid() FROM pg_sleep(0.05)") for _ in range(6))
        )
        assert len({row[0] for row in pids}) >= 3  # beyond the limit: checked out per read
        assert postgres.engine.pool.checkedout() == hot.limit  # type: ignore[attr-defined]
        with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
            await fetchrow(postgres, "SELECT 1 / 0")
        assert postgres.engine.pool.checkedout() == hot.limit - 1  # type: ignore[attr-defined]
        assert (await fetchrow(postgres, "SELECT 1"))[0] == 1
    finally:
        await postgres.dispose()
    assert postgres.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_the_pool_hands_out_the_connection_given_back_last(postgres: Database) -> None:
    """Last in, first out: after a burst opened many connections, a run of requests stays on
    the warm ones (their prepared statements) instead of rotating through all of them (measured:
    a publish p50 after a load test went from 24-26 to 12 ms, benchmarks/RESULTS.md)."""
    engine = postgres.engine
    try:
        first, second = await engine.connect(), await engine.connect()
        pids = [await c.scalar(text("SELECT pg_backend_pid()")) for c in (first, second)]
        await first.close()
        await second.close()  # given back last
        async with engine.connect() as again:
            assert await again.scalar(text("SELECT pg_backend_pid()")) == pids[1]
    finally:
        await postgres.dispose()
