"""Engines and sessions; the connection-level quirks of SQLite live here (what the two dialects
spell differently in SQL is in db/dialect.py)."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.util import await_, greenlet_spawn

from callplane.db.sqlite_reads import SQLITE_CACHE_KIB, SqliteReads

WRITE_OPTION = "callplane_write"
# How long a SQLite writer waits for the write lock before giving up (then: 503, see below).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connections a SQLite engine keeps open (more are opened, up to 10, while needed).
SQLITE_POOL_SIZE = 5
# PostgreSQL states a retry can cure: serialization failure, deadlock, lock not available,
# shutdown or restart, connection failures, too many connections.
_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"}
) | {f"08{n}" for n in ("000", "001", "003", "004", "006")}


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`. SQLite gets WAL, foreign keys and BEGIN IMMEDIATE for writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            # SQLite has one writer and reads in parallel only up to the cores: more kept
            # connections (each with its thread, page cache and parsed schema) only cost memory.
            pool_size=min(pool_size, SQLITE_POOL_SIZE),
            max_overflow=10,
            # `_install_sqlite_quirks` rolls back only a connection still in a transaction.
            pool_reset_on_return=None,
        )
        _install_sqlite_quirks(engine)
        return engine
    # Last in, first out: a run of requests reuses the connections used last, whose prepared
    # statements (asyncpg's cache) and server backend are warm, instead of rotating through
    # every connection a burst opened (each cold for the statements of what comes next).
    kwargs: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": pool_size // 2,
        "pool_use_lifo": True,
        "echo": echo,
    }
    if pool_size == 0:
        kwargs = {"poolclass": NullPool, "echo": echo}
    return create_async_engine(url, pool_pre_ping=False, **kwargs)


def _lost_connection_errors() -> tuple[type[BaseException], ...]:
    """Refused, reset, closed under us, or the host name did not resolve; asyncpg's own only
    if asyncpg is loaded (if not, no error can be one of its own). Not imported here: ~3 MB of
    a process on SQLite, which never loads it (issue 16)."""
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return (ConnectionError, socket.gaierror)
    return (ConnectionError, socket.gaierror, asyncpg.exceptions.InterfaceError)


def is_transient(error: BaseException) -> bool:
    """The database was busy or unreachable (a retry may well succeed), as opposed to a bug:
    SQLite's write lock not granted within its busy timeout, or one of PostgreSQL's retryable
    states, or a lost connection, whether the error came through SQLAlchemy or straight from
    asyncpg (the raw-connection hot paths)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig or error
    if isinstance(error, _lost_connection_errors()):
        return True
    if getattr(error, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    message = str(error).lower()
    return "database is locked" in message or "database table is locked" in message


def canonical_json(value: Any) -> str:
    """One spelling per JSON value, so SQLite can compare nested values as PostgreSQL's jsonb
    does: keys sorted, and a float with an integral value written as the integer (1.0 == 1)."""

    def normal(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: normal(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [normal(inner) for inner in item]
        if isinstance(item, float) and item.is_integer():
            return int(item)
        return item

    return json.dumps(normal(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_text(text: str | None) -> str | None:
    """`canonical_json` of a JSON text: SQLite's `cp_json_canonical(...)`. None for text that is
    not JSON (SQLite may call it on a scalar before the condition that rules the row out)."""
    try:
        return None if text is None else canonical_json(json.loads(text))
    except (TypeError, ValueError):
        return None


def json_float_text(value: float | int | None) -> str | None:
    """A number as Python (and PostgreSQL) spell a float in JSON: SQLite's `cp_json_float(x)`.
    SQLite's own JSON functions print reals with 15 significant digits, which can differ from
    the shortest exact spelling in the last digits; `json(cp_json_float(x))` does not."""
    return None if value is None else repr(float(value))


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """The Python functions our SQL calls on SQLite, on one sqlite3 connection."""
    dbapi_connection.create_function(
        "cp_json_canonical", 1, canonical_json_text, deterministic=True
    )
    dbapi_connection.create_function("cp_json_float", 1, json_float_text, deterministic=True)


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine (None for PostgreSQL and in-memory databases)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _install_sqlite_quirks(engine: AsyncEngine) -> None:
    """Take transaction control from pysqlite, to BEGIN IMMEDIATE where a read decides a write.

    A deferred transaction that later writes fails with SQLITE_BUSY when another writer got in
    between; BEGIN IMMEDIATE takes the write lock up front and waits (busy_timeout) instead.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # every statement is its own transaction
        if options.get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # A deferred BEGIN cannot fail or wait; sent straight to aiosqlite it is one trip to
            # the connection's thread instead of three (cursor, execute, close).
            await_(conn.connection.driver_connection.execute("BEGIN"))

    @event.listens_for(sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, reset_state: Any) -> None:
        # What the pool's reset-on-return did, less the trip to the connection's thread for
        # the ROLLBACK of a connection whose session already committed or rolled back.
        if reset_state.terminate_only:
            return
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if getattr(driver, "in_transaction", True):
            dbapi_connection.rollback()


class HotConnections:
    """PostgreSQL: pooled connections the one-statement hot reads (`db.dialect.fetchrow`) keep
    checked out between statements, so a read costs the statement alone: no pool checkout, no
    return to the pool (which runs in a greenlet, as the pool may close the connection) per
    request (issue 15: the two were ~15% of the server's CPU on the agent detail under load).

    At most `limit` are kept (half the pool: the ORM sessions keep the rest); a read that finds
    none idle and none left to take checks one out and returns it as before. Nothing is cached
    but connections: every read is a statement, autocommitted, that sees every committed write.
    A connection whose statement failed (or was cancelled) goes back to the pool, not to the
    list: the pool rolls it back or drops it, as it did before."""

    def __init__(self, engine: AsyncEngine, limit: int):
        self.engine = engine
        self.limit = limit
        self._idle: list[Any] = []
        self._taken = 0
        self._closed = False

    async def fetchrow(self, sql: str, args: tuple[Any, ...]) -> Any:
        return await self._run("fetchrow", sql, args)

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        rows: list[Any] = await self._run("fetch", sql, args)
        return rows

    async def _run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        """The driver's `method` (asyncpg's `fetchrow` or `fetch`) on a kept connection."""
        if self._idle:
            connection = self._idle.pop()
        elif self._taken < self.limit and not self._closed:
            self._taken += 1
            try:
                connection = await self.engine.raw_connection()
            except BaseException:
                self._taken -= 1
                raise
        else:
            return await run_once(self.engine, method, sql, args)
        try:
            row = await getattr(connection.driver_connection, method)(sql, *args)
        except BaseException:
            self._taken -= 1
            await greenlet_spawn(connection.close)
            raise
        if self._closed:
            self._taken -= 1
            await greenlet_spawn(connection.close)
        else:
            self._idle.append(connection)
        return row

    async def close(self) -> None:
        """Back to the pool, before it is disposed of."""
        self._closed = True
        while self._idle:
            self._taken -= 1
            await greenlet_spawn(self._idle.pop().close)


async def run_once(engine: AsyncEngine, method: str, sql: str, args: tuple[Any, ...]) -> Any:
    """One statement (the driver's `method`: asyncpg's `fetchrow` or `fetch`, aiosqlite's
    `execute_fetchall`) on a connection checked out for it and returned after."""
    connection = await engine.raw_connection()
    try:
        driver: Any = connection.driver_connection
        return await getattr(driver, method)(sql, *args)
    finally:
        # Back to the pool, inside a greenlet: when the pool has no room for it (an overflow
        # connection) the pool closes it, which awaits the driver (perfpg, issue 15: outside a
        # greenlet that raised MissingGreenlet, logged a traceback and leaked the connection).
        await greenlet_spawn(connection.close)


class Database:
    """The engine plus two session factories: reads, and writes (serialized up front on SQLite)."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.dialect = engine.dialect.name
        path = sqlite_file(engine)
        # SQLite: one-statement hot reads on connections of their own (db/sqlite_reads.py).
        self.sqlite_reads = (
            SqliteReads(
                path, setup=register_sqlite_functions, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS
            )
            if path is not None
            else None
        )
        # PostgreSQL: connections the hot reads keep (see HotConnections); none without a pool.
        pool = engine.pool
        self.hot_connections = (
            HotConnections(engine, max(1, pool.size() // 2))
            if self.dialect == "postgresql" and isinstance(pool, QueuePool)
            else None
        )
        self._read = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
        )

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which every statement commits on its own, for maintenance writes that
        are one statement each. On SQLite such a write holds the write lock only while the
        statement runs; in a transaction it would hold it until this process's event loop came
        back to commit, which a busy or stalled loop can put off for as long as it likes."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def dispose(self) -> None:
        if self.hot_connections is not None:
            await self.hot_connections.close()
        if self.sqlite_reads is not None:
            self.sqlite_reads.close()
        await self.engine.dispose()
