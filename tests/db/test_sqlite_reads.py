"""SQLite's one-statement hot reads (db/sqlite_reads.py): on the event loop's own connection when
quick, on a thread when not; never a stale answer, never a write, never a wait on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from callplane.agents.detail_sql import SQLITE_AGENT_DETAIL_SQL
from callplane.db.dialect import sqlite_fetchone
from callplane.db.engine import Database, create_engine, register_sqlite_functions
from callplane.db.sqlite_reads import SqliteReads
from callplane.routing.repository import _STATEMENTS as RESOLVE_STATEMENTS

_COUNT_TO = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :to)"


def _thread_name() -> str:
    return threading.current_thread().name


def _with_thread_name(connection: sqlite3.Connection) -> None:
    connection.create_function("thread_name", 0, _thread_name)


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    database = Database(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}"))
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"))
        await connection.execute(text("INSERT INTO t VALUES (1, 0), (2, 0), (3, 0)"))
    return database


async def test_a_read_sees_what_another_process_committed_just_before(database: Database) -> None:
    path = database.sqlite_reads.path  # type: ignore[union-attr]
    for value in range(1, 6):
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " c.execute('UPDATE t SET v = ? WHERE id = 1', (int(sys.argv[2]),)); c.commit()",
            path,
            str(value),
        )
        assert await writer.wait() == 0
        row = await sqlite_fetchone(database, "SELECT v FROM t WHERE id = :id", {"id": 1})
        assert row == (value,)
        # And a write of this process, through the engine's own connections.
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE t SET v = v + 100 WHERE id = 1"))
        row = await sqlite_fetchone(database, "SELECT v FROM t WHERE id = :id", {"id": 1})
        assert row == (value + 100,)
    await database.dispose()


async def test_a_quick_read_runs_on_the_calling_thread_and_leaves_no_snapshot_open(
    tmp_path: Path, database: Database
) -> None:
    reads = SqliteReads(str(tmp_path / "reads.db"), setup=_with_thread_name)
    try:
        row = await reads.fetchone("SELECT thread_name(), v FROM t ORDER BY id", {})
        assert row == (threading.current_thread().name, 0)
        assert reads._executor is None  # no thread was needed
        # The statement stopped after its first row was reset: a checkpoint that waits for
        # every reader to leave the log finishes at once.
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE t SET v = 7"))
        checkpoint = sqlite3.connect(reads.path, timeout=0)
        try:
            busy, _, _ = checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            checkpoint.close()
        assert busy == 0
        assert await reads.fetchone("SELECT v FROM t WHERE id = 3", {}) == (7,)
    finally:
        reads.close()
        await database.dispose()


async def test_a_read_over_its_budget_is_run_again_on_a_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "budget.db")
    reads = SqliteReads(path, setup=_with_thread_name, inline_budget_s=0.0)
    try:
        # Far more VM instructions than one progress check: interrupted, then run on a thread.
        row = await reads.fetchone(
            f"{_COUNT_TO} SELECT thread_name(), max(i) FROM n", {"to": 200_000}
        )
        assert row[1] == 200_000
        assert row[0].startswith("callplane-sqlite-read")
        # A statement that ends before the first progress check stays on the calling thread.
        row = await reads.fetchone("SELECT thread_name()", {})
        assert row == (threading.current_thread().name,)
    finally:
        reads.close()


async def test_a_read_that_finds_the_database_locked_waits_on_a_thread_not_on_the_loop(
    tmp_path: Path,
) -> None:
    # WAL readers do not wait for writers, so the lock is taken in rollback-journal mode, where
    # an exclusive lock keeps every reader out.
    path = str(tmp_path / "locked.db")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (v INTEGER)")
    holder.execute("INSERT INTO t VALUES (42)")
    holder.execute("BEGIN EXCLUSIVE")
    reads = SqliteReads(path, setup=_with_thread_name)
    try:
        read = asyncio.create_task(reads.fetchone("SELECT thread_name(), v FROM t", {}))
        await asyncio.sleep(0.2)  # the loop is free while the read waits for the lock
        assert not read.done()
        holder.execute("COMMIT")
        row = await asyncio.wait_for(read, 10)
        assert row[1] == 42 and row[0].startswith("callplane-sqlite-read")
    finally:
        reads.close()
        holder.close()


async def test_nothing_can_write_through_the_reads(database: Database) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await sqlite_fetchone(database, "UPDATE t SET v = 1 RETURNING v", {})
    assert database.sqlite_reads is not None and database.sqlite_reads._executor is None
    row = await sqlite_fetchone(database, "SELECT sum(v) FROM t", {})
    assert row == (0,)
    await database.dispose()


def test_the_hot_statements_read_by_index_only(database_url: str) -> None:
    """What keeps them quick on any database: every table is reached through an index by the
    agent (the detail) or by a unique key (resolve), never by the organization's index, which
    covers every row of the organization. SQLite prefers that index when it has no statistics,
    so the statements rule it out (`+organization_id`)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's query plans")
    connection = sqlite3.connect(database_url.partition(":///")[2])
    register_sqlite_functions(connection)
    try:
        statements = {
            "detail": (SQLITE_AGENT_DETAIL_SQL, {"agent_id": "a", "organization_id": "o"}),
            **{
                key: (sql, {"p1": "k", "p2": "o", "p3": None, "p4": None})
                for (postgres, key), sql in RESOLVE_STATEMENTS.items()
                if not postgres
            },
        }
        for name, (sql, params) in statements.items():
            plan = [
                row[3]
                for row in connection.execute(
                    f"EXPLAIN QUERY PLAN {sql}", {**params, "sip_domain": "sip"}
                )
            ]
            searches = [step for step in plan if step.startswith("SEARCH")]
            assert searches, (name, plan)
            for step in searches:
                key = step.removesuffix(" LEFT-JOIN").rpartition("(")[2]
                assert key in {"id=?)", "agent_id=?)", "phone_number=?)"} or key in {
                    "inbound_agent_id=?)",
                    "outbound_agent_id=?)",
                }, (name, step)
            scanned = [step for step in plan if step.startswith("SCAN")]
            assert all("subquery" in step for step in scanned), (name, plan)
    finally:
        connection.close()
