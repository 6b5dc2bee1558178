"""Survivors take over the unfinished workflows of a dead process (PostgreSQL deployments).

DBOS resumes a process's unfinished (PENDING) workflows only when a process with the same executor
id starts again. So that any live worker finishes them instead, every process that runs workflows
holds a session-level advisory lock named after its executor id, on a connection of its own, for
its whole life. PostgreSQL releases the lock when that session ends, and the session ends when the
process dies (even by `kill -9`: the kernel closes the socket; a vanished host is noticed through
the TCP keepalives set below). Obtaining another executor's lock therefore proves it is gone.

The taker then runs DBOS recovery for that executor id: one UPDATE puts its PENDING workflows back
on their queues (ENQUEUED) only while they still belong to that executor, so racing takers
re-enqueue a workflow at most once, and the queue's claim (ENQUEUED -> PENDING) admits exactly one
runner. DBOS also fences every checkpoint by the claiming execution, so a straggler of an old
execution cannot record a step or an outcome after its workflow was taken over.

SQLite needs none of this: one embedded process, which resumes its own work when it restarts.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger("callplane.workflows")

# Seconds before a vanished peer's session (and its lock) is dropped: idle + interval * count.
_KEEPALIVES = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
_RETRY_SECONDS = 0.2


class ExecutorIdInUse(RuntimeError):
    """Another live process holds this executor id: running both would recover each other's work."""


def lock_key(executor_id: str) -> int:
    """The advisory lock (a signed 64-bit key) that stands for an executor id."""
    digest = hashlib.blake2b(f"callplane-executor:{executor_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class ExecutorGuard:
    """Holds this process's executor lock and, every `interval` seconds on a background thread,
    takes over the workflows of executors whose lock is free."""

    def __init__(
        self,
        dsn: str,
        *,
        executor_id: str,
        app_name: str,
        schema: str,
        interval: float,
        recover: Callable[[str], int],
    ) -> None:
        self.executor_id = executor_id
        self._dsn = dsn
        self._key = lock_key(executor_id)
        self._app_name = app_name
        self._app_version = ""
        self._pending = sql.SQL(
            "SELECT DISTINCT executor_id FROM {}.workflow_status WHERE status = 'PENDING'"
            " AND executor_id <> %s AND application_version = %s"
            " AND (application_name = %s OR application_name IS NULL)"
        ).format(sql.Identifier(schema))
        self._interval = interval
        self._recover = recover
        self._connection: psycopg.Connection[Any] | None = None
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, wait_seconds: float) -> None:
        """Take our lock before running any workflow. It may be held briefly (a taker recovering
        our previous life's work, or that life's session not yet dropped); held for longer, it
        belongs to another live process with the same id, and we refuse to start."""
        waited = 0.0
        while not self._hold():
            if waited >= wait_seconds:
                raise ExecutorIdInUse(
                    f"workflow executor id {self.executor_id!r} is held by another live process; "
                    "give every process its own CALLPLANE_WORKFLOW_EXECUTOR_ID (or leave it unset)"
                )
            self._stop.wait(_RETRY_SECONDS)
            waited += _RETRY_SECONDS

    def start(self, app_version: str) -> None:
        """Watch for dead executors of our application version (DBOS recovers only those)."""
        self._app_version = app_version
        self._thread = threading.Thread(target=self._watch, name="callplane-takeover", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Release the lock (by closing its session), after the engine stopped running work."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._connection is not None:
            self._connection.close()
        self._connection, self._held = None, False

    def take_over(self) -> dict[str, int]:
        """One round: recover the workflows of every dead executor; returns how many, by id."""
        if not self._hold():
            return {}
        connection = self._connection
        assert connection is not None
        parameters = (self.executor_id, self._app_version, self._app_name)
        rows = connection.execute(self._pending, parameters).fetchall()
        taken: dict[str, int] = {}
        for (executor_id,) in rows:
            key = lock_key(executor_id)
            if key == self._key or not _try_lock(connection, key):
                continue  # alive (or a hash twin of ours: never take over on a re-entrant lock)
            try:
                taken[executor_id] = self._recover(executor_id)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
            logger.warning(
                "took over the unfinished workflows of a dead process",
                extra={"executor_id": executor_id, "workflows": taken[executor_id]},
            )
        return taken

    def _hold(self) -> bool:
        """Whether we hold our lock, (re)connecting and (re)taking it if the session was lost."""
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._held = False
            self._connection = _connect(self._dsn)
        if not self._held:
            self._held = _try_lock(self._connection, self._key)
        return self._held

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.take_over()
            except psycopg.Error:
                # Reconnects next round. Meanwhile our own work may be taken over: DBOS's
                # checkpoint fencing stops our copy, and steps are idempotent.
                logger.exception("workflow takeover round failed; retrying")
                self._held = False
                if self._connection is not None:
                    self._connection.close()
            except Exception:  # keep watching; the next round may succeed
                logger.exception("workflow takeover round failed")


def _connect(dsn: str) -> psycopg.Connection[Any]:
    connection = psycopg.connect(dsn, autocommit=True, application_name="callplane-executor")
    for name, value in _KEEPALIVES.items():
        connection.execute("SELECT set_config(%s, %s, false)", (name, value))
    return connection


def _try_lock(connection: psycopg.Connection[Any], key: int) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])
