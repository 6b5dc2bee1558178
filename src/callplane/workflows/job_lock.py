"""DBOS's background-jobs lock, taken without leaving a transaction open.

DBOS (3.4) runs its background jobs (delayed workflows coming due, workflow timeouts) in one
process of an application at a time: whichever takes `pg_try_advisory_xact_lock` in a
transaction it then leaves open for the rest of each one-second interval, and takes again at
once. An idle-in-transaction session keeps its snapshot's `backend_xmin`, and the system schema
lives in the app's database by default: so no row version younger than about a second can be
pruned there. Rows rewritten more often than that (a publish rewrites every slot of its numbers)
stop being updated in place (HOT) and their tables grow until a VACUUM: measured, 58% HOT
updates of the publish benchmark's numbers instead of 97%, and PostgreSQL's CPU per publish
rising from 12.8 to 39 ms over 320 publishes (benchmarks/RESULTS.md, "publish").

`install()` replaces that lock with the same key taken as a session-level advisory lock on an
autocommit connection, released when the job block exits. No transaction is open while the
jobs wait for their interval, so nothing holds the database's horizon. What DBOS's idle
transaction timeout gave is kept: a frozen holder's session is ended by the server after the
same 5 s idle (`idle_session_timeout`, PostgreSQL 14+; on 13 DBOS's own lock is used), which
releases the lock for another process. A session whose lock could not be released is discarded,
never returned to the pool holding it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa
from dbos._sys_db_postgres import BACKGROUND_JOB_LOCK_IDLE_TIMEOUT_MS, PostgresSystemDatabase

logger = logging.getLogger("callplane.workflows")

# The server ends the session if the holder sits idle this long (only while the lock is held).
_TAKE = sa.text(
    "SELECT CASE WHEN pg_try_advisory_lock(:key)"
    " THEN set_config('idle_session_timeout', :timeout, false) IS NOT NULL ELSE false END"
)
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:key)")
_RESET_TIMEOUT = sa.text("RESET idle_session_timeout")

JobLock = Callable[[Any, str], AbstractContextManager[bool]]
_dbos_lock: JobLock = PostgresSystemDatabase.background_job_lock


def install() -> None:
    """Make every PostgreSQL system database of this process take the session-level lock.
    Called by `engine.launch` before DBOS starts its background-jobs thread."""
    PostgresSystemDatabase.background_job_lock = _session_job_lock  # type: ignore[method-assign,assignment]


def job_key(schema: str | None, app_name: str | None, job_name: str) -> int:
    """DBOS's key for the lock (the leading 8 bytes of a SHA-256, big-endian, signed): every
    process of a cluster, whichever of the two locks it takes, contends for the same one."""
    name = f"dbos.background_job.{schema}.{app_name or ''}.{job_name}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _session_job_lock(
    system_db: PostgresSystemDatabase, job_name: str
) -> Generator[bool, None, None]:
    if system_db._is_cockroach or not _has_idle_session_timeout(system_db.engine):
        with _dbos_lock(system_db, job_name) as acquired:
            yield acquired
        return
    key = job_key(system_db.schema, system_db.app_name, job_name)
    with system_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as session:
        taken = {"key": key, "timeout": str(BACKGROUND_JOB_LOCK_IDLE_TIMEOUT_MS)}
        acquired = bool(session.execute(_TAKE, taken).scalar())
        try:
            yield acquired
        finally:
            if acquired:
                _release(session, key, job_name)


def _has_idle_session_timeout(engine: sa.Engine) -> bool:
    """PostgreSQL 14 or later (the server's version is known once the engine has connected)."""
    if engine.dialect.server_version_info is None:
        with engine.connect():
            pass
    return (engine.dialect.server_version_info or (0,)) >= (14,)


def _release(connection: sa.Connection, key: int, job_name: str) -> None:
    try:
        connection.execute(_UNLOCK, {"key": key})
        connection.execute(_RESET_TIMEOUT)
    except Exception as error:
        # A session the idle timeout ended has released the lock already; any other failure
        # must not hand a session that may hold the lock back to the pool.
        logger.debug("could not release the %s lock: %s", job_name, error)
        connection.invalidate()
