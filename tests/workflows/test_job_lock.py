"""DBOS's background-jobs lock, taken without an open transaction (workflows/job_lock.py).

PostgreSQL only: on SQLite DBOS takes no lock (one process owns the file)."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from callplane.workflows import job_lock
from callplane.workflows.engine import APP_NAME, SYSTEM_SCHEMA

JOBS = "background_jobs"  # the name DBOS gives its background-jobs lock


@pytest.fixture
def postgres_engine(database_url: str, is_postgres: bool) -> Iterator[sa.Engine]:
    if not is_postgres:
        pytest.skip("DBOS takes its background-jobs lock on PostgreSQL only")
    url = sa.make_url(database_url).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, pool_size=2)
    yield engine
    engine.dispose()


def _system_db(engine: sa.Engine) -> types.SimpleNamespace:
    """What the lock reads of DBOS's PostgresSystemDatabase."""
    return types.SimpleNamespace(
        engine=engine, _is_cockroach=False, schema=SYSTEM_SCHEMA, app_name=APP_NAME
    )


def _lock_holders(connection: sa.Connection, key: int) -> list[str]:
    """The states ('idle', 'idle in transaction', ...) of the sessions holding advisory `key`."""
    rows = connection.execute(
        sa.text(
            "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.classid = :high AND l.objid = :low"
        ),
        {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
    )
    return [row.state for row in rows]


async def test_the_running_engine_takes_the_jobs_lock_outside_any_transaction(
    app_client: httpx.AsyncClient, postgres_engine: sa.Engine
) -> None:
    """The app's engine (launched by the session's app) holds DBOS's key, in a session that is
    idle, not idle in transaction: so it keeps no snapshot, and the database's horizon moves."""
    key = job_lock.job_key(SYSTEM_SCHEMA, APP_NAME, JOBS)
    seen: list[str] = []
    stale_snapshots = 0
    with postgres_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
        for _ in range(30):
            seen += _lock_holders(probe, key)
            stale_snapshots += probe.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state = 'idle in transaction' AND backend_xmin IS NOT NULL"
                    " AND query LIKE '%advisory_xact_lock%'"
                )
            ).scalar_one()
            await asyncio.sleep(0.1)
    assert seen, "no process took the background-jobs lock in 3 s"
    assert set(seen) <= {"idle", "active"}, seen
    assert stale_snapshots == 0


async def test_dbos_own_lock_and_ours_exclude_each_other(
    app_client: httpx.AsyncClient, postgres_engine: sa.Engine
) -> None:
    """A process of an older release takes DBOS's transaction lock: while ours is held, that one
    is refused (same key), so a mixed cluster still runs the jobs in one process at a time."""
    system_db = _system_db(postgres_engine)
    refused = 0
    for _ in range(5):
        with job_lock._dbos_lock(system_db, JOBS) as acquired:  # type: ignore[arg-type]
            refused += not acquired
        await asyncio.sleep(0.05)
    assert refused >= 3


def test_the_lock_is_released_and_its_timeout_reset_on_exit(postgres_engine: sa.Engine) -> None:
    system_db = _system_db(postgres_engine)
    key = job_lock.job_key(SYSTEM_SCHEMA, APP_NAME, "test-release")
    with job_lock._session_job_lock(system_db, "test-release") as acquired:  # type: ignore[arg-type]
        assert acquired
        with job_lock._session_job_lock(system_db, "test-release") as again:  # type: ignore[arg-type]
            assert not again, "a second session took a held lock"
        with postgres_engine.connect() as other:
            assert _lock_holders(other, key) == ["idle"]
    with postgres_engine.connect() as other:
        assert _lock_holders(other, key) == []
    # Every pooled session is back to the server's idle timeout (none is ended for idling).
    sessions = [postgres_engine.connect() for _ in range(2)]
    try:
        for session in sessions:
            assert session.execute(sa.text("SHOW idle_session_timeout")).scalar_one() == "0"
    finally:
        for session in sessions:
            session.close()


def test_a_frozen_holder_loses_the_lock_to_the_server(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder idle past the timeout (a frozen process) has its session ended by the server,
    which frees the lock; leaving the block afterwards raises nothing and discards the session."""
    monkeypatch.setattr(job_lock, "BACKGROUND_JOB_LOCK_IDLE_TIMEOUT_MS", 300)
    system_db = _system_db(postgres_engine)
    key = job_lock.job_key(SYSTEM_SCHEMA, APP_NAME, "test-frozen")
    with job_lock._session_job_lock(system_db, "test-frozen") as acquired:  # type: ignore[arg-type]
        assert acquired
        deadline = time.monotonic() + 5
        with postgres_engine.connect() as other:
            while _lock_holders(other, key) and time.monotonic() < deadline:
                other.rollback()
                time.sleep(0.1)
            assert _lock_holders(other, key) == []
    with postgres_engine.connect() as session:
        assert session.execute(sa.text("SELECT 1")).scalar_one() == 1
