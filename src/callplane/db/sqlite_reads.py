"""SQLite's hot reads on a few connections of their own, one thread each.

Through SQLAlchemy's aiosqlite adapter every statement of a read is several hops between the
event loop and the connection's thread (pool checkout and reset, BEGIN, execute, fetch,
rollback), each one waiting for the loop to come back. A hot read that is one statement (the
agent detail document, built by SQLite's JSON functions) is sent here instead: the whole
statement runs in one hop on a pooled connection in autocommit mode, so it reads one consistent
WAL snapshot and holds no transaction afterwards. In WAL mode readers never wait for the writer
nor for each other, so the connections of this pool read in parallel (sqlite3 releases the GIL
while SQLite works); writes stay on the engine's connections, one at a time (`BEGIN IMMEDIATE`).

The connections are `query_only`: nothing sent here can write.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Read connections (and threads) per process; more than the cores buys nothing, and every
# connection keeps its own page cache (see SQLITE_CACHE_KIB).
READ_CONNECTIONS = 3
# Page cache per read connection, in KiB (SQLite's default is 2,000 KiB).
SQLITE_CACHE_KIB = 512


class SqliteReads:
    """`await reads.fetchone(sql, params)`: one statement on one of a few read connections.

    Threads and connections are made on first use, so a process that never reads this way
    (the CLI, a migration) pays nothing."""

    def __init__(
        self,
        path: str,
        *,
        size: int = READ_CONNECTIONS,
        setup: Callable[[sqlite3.Connection], None] | None = None,
        busy_timeout_ms: int = 30_000,
    ):
        self.path = path
        self.size = size
        self._setup = setup
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._executor: ThreadPoolExecutor | None = None

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            connection.execute("PRAGMA query_only=ON")
            if self._setup is not None:
                self._setup(connection)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _fetchone(self, sql: str, params: Mapping[str, Any]) -> Any:
        cursor = self._connection().execute(sql, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    async def fetchone(self, sql: str, params: Mapping[str, Any]) -> Any:
        """The first row of `sql` (named `:parameters`), or None."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.size, thread_name_prefix="callplane-sqlite-read"
                    )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._fetchone, sql, params)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
