"""SQLite's hot reads: one statement, on the event loop's own read connection when it is quick.

Through SQLAlchemy's aiosqlite adapter every statement of a read is several hops between the
event loop and the connection's thread (pool checkout and reset, BEGIN, execute, fetch,
rollback), each one waiting for the loop to come back. A hot read that is one statement (the
agent detail document, built by SQLite's JSON functions; resolve's lookups) comes here instead,
in autocommit mode: one statement reads one consistent WAL snapshot, taken when it starts (so it
sees every write committed before, by any process), and holds nothing afterwards.

Such a statement is an index-bounded lookup costing tens of µs, less than a hop to a thread and
back (a future, `call_soon_threadsafe`, two GIL hand-offs: measured 20 to 55 µs of CPU). So it runs
first *on the calling thread* (the event loop's), on a read connection of that thread's own:
- it never waits for a lock: its busy timeout is 0, and in WAL mode a reader does not wait for
  the writer or other readers, so `SQLITE_BUSY` is rare (a crashed writer's recovery, a
  checkpoint resetting the log);
- it has a budget (`INLINE_BUDGET_S`, checked by SQLite's progress handler every
  `_PROGRESS_OPS` VM instructions): a read that outgrows it (an agent with hundreds of versions)
  is interrupted.
Either way the statement is run again on one of a few read connections with a thread each
(`READ_CONNECTIONS`, the full busy timeout), which read in parallel: sqlite3 releases the GIL
while SQLite works. Writes stay on the engine's connections, one at a time (`BEGIN IMMEDIATE`).

Every connection here is `query_only`: nothing sent here can write.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any

# Read connections (and threads) per process for reads that are not quick; more than the cores
# buys nothing, and every connection keeps its own page cache (see SQLITE_CACHE_KIB).
READ_CONNECTIONS = 3
# Page cache per read connection, in KiB (SQLite's default is 2,000 KiB).
SQLITE_CACHE_KIB = 512
# How long a read may hold the event loop before it is moved to a thread (seconds).
INLINE_BUDGET_S = 0.001
# SQLite calls the budget check every this many VM instructions (a detail document of a small
# agent is ~750; one instruction costs ~60 ns there, so the check runs every ~60 µs).
_PROGRESS_OPS = 1000
# Primary result codes after which the read is tried again on a thread.
_RETRY_IN_THREAD = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT})


class _Inline:
    """The calling thread's read connection: no busy wait, and a time budget per statement."""

    __slots__ = ("connection", "deadline")

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection
        self.deadline = 0.0
        connection.set_progress_handler(self._over_budget, _PROGRESS_OPS)

    def _over_budget(self) -> bool:
        return time.perf_counter() > self.deadline


class SqliteReads:
    """`await reads.fetchone(sql, params)`: one statement, on the loop's thread or on a thread.

    Connections and threads are made on first use, so a process that never reads this way
    (the CLI, a migration) pays nothing."""

    def __init__(
        self,
        path: str,
        *,
        size: int = READ_CONNECTIONS,
        setup: Callable[[sqlite3.Connection], None] | None = None,
        busy_timeout_ms: int = 30_000,
        inline_budget_s: float = INLINE_BUDGET_S,
    ):
        self.path = path
        self.size = size
        self.inline_budget_s = inline_budget_s
        self._setup = setup
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._executor: ThreadPoolExecutor | None = None

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=0
        )
        try:
            connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            # Reads the schema: can find the database locked (the quick connection waits not).
            connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            connection.execute("PRAGMA query_only=ON")
            if self._setup is not None:
                self._setup(connection)
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self._connections.append(connection)
        return connection

    def _threaded(self) -> sqlite3.Connection:
        """The read connection of one of the pool's threads (waits for locks)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect(self._busy_timeout_ms)
        return connection

    def _inline(self) -> _Inline:
        """The calling thread's own quick-read connection (never waits for a lock)."""
        inline: _Inline | None = getattr(self._local, "inline", None)
        if inline is None:
            inline = self._local.inline = _Inline(self._connect(0))
        return inline

    async def fetchone(self, sql: str, params: Mapping[str, Any]) -> Any:
        """The first row of `sql` (named `:parameters`), or None."""
        return await self._read(sql, params, _first_row, inline=True)

    async def fetchall(self, sql: str, params: Mapping[str, Any], *, inline: bool) -> list[Any]:
        """All the rows of `sql`; `inline=False` for a read that may well outgrow the budget
        (a scan), which goes to a thread at once rather than after spending it."""
        rows: list[Any] = await self._read(sql, params, _all_rows, inline=inline)
        return rows

    async def _read(
        self, sql: str, params: Mapping[str, Any], read: _Reader, *, inline: bool
    ) -> Any:
        if inline:
            try:
                quick = self._inline()
                quick.deadline = time.perf_counter() + self.inline_budget_s
                return read(quick.connection, sql, params)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _RETRY_IN_THREAD:
                    raise
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.size, thread_name_prefix="callplane-sqlite-read"
                    )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: read(self._threaded(), sql, params)
        )

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()  # no thread keeps a closed connection
        for connection in connections:
            connection.close()


_Reader = Callable[[sqlite3.Connection, str, Mapping[str, Any]], Any]


def _first_row(connection: sqlite3.Connection, sql: str, params: Mapping[str, Any]) -> Any:
    # Closing the cursor resets the statement, which ends its read of the snapshot: a statement
    # left mid-result would keep its (ever older) snapshot open.
    with closing(connection.execute(sql, params)) as cursor:
        return cursor.fetchone()


def _all_rows(connection: sqlite3.Connection, sql: str, params: Mapping[str, Any]) -> list[Any]:
    with closing(connection.execute(sql, params)) as cursor:
        return cursor.fetchall()
