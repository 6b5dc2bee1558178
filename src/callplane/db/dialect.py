"""What differs between PostgreSQL and SQLite, in one place.

Repositories write portable SQLAlchemy; where the two databases need different SQL (an upsert's
`INSERT`, a JSONB containment test, a hot read sent straight through asyncpg) they ask this
module instead of testing the dialect name themselves. The connection-level quirks of SQLite
(pragmas, `BEGIN IMMEDIATE`) stay in `db/engine.py`, where connections are made.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Insert,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    select,
)
from sqlalchemy import insert as portable_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.engine import Database, run_once

POSTGRESQL = "postgresql"


def is_postgres(target: AsyncSession | Database) -> bool:
    """Whether a session (through its bind) or a database talks to PostgreSQL."""
    if isinstance(target, Database):
        return target.dialect == POSTGRESQL
    return target.get_bind().dialect.name == POSTGRESQL


def one_of(
    session: AsyncSession, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY($1)` with the values as one array
    parameter: an `IN` list is expanded into a placeholder per value, rendered, cast and bound in
    Python on every execution (a publish locks and writes 100 numbers; issue 15)."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def insert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` for `table` in the session's dialect, with `on_conflict_do_update` /
    `on_conflict_do_nothing` (both dialects spell them the same)."""
    return (postgresql if is_postgres(session) else sqlite).insert(table)


async def insert_many(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert `rows` (each keyed by the same column names) in one round trip.

    On SQLite an executemany. On PostgreSQL one statement whose rows arrive as one JSON parameter
    unpacked by `json_to_recordset`: an executemany has each row's values processed by
    SQLAlchemy, encoded by asyncpg and executed by the server one by one (a publish to 100
    numbers records 101 audit events; issue 15), where orjson writes the whole batch at once.
    Values of JSON columns are written as SQLAlchemy writes them (the stdlib's `json.dumps`),
    once per distinct object: rows often share one. Naive datetimes are UTC, as `UTCDateTime`
    takes them."""
    if not rows:
        return
    if not is_postgres(session):
        await session.execute(portable_insert(table), rows)
        return
    names = tuple(rows[0])
    json_columns = [name for name in names if isinstance(table.c[name].type, JSON)]
    written: dict[int, orjson.Fragment] = {}  # by identity, while `rows` keeps the values alive
    if json_columns:
        encoded = []
        for row in rows:
            row = dict(row)
            for name in json_columns:
                value = row[name]
                fragment = written.get(id(value))
                if fragment is None:
                    fragment = written[id(value)] = orjson.Fragment(json.dumps(value))
                row[name] = fragment
            encoded.append(row)
        rows = encoded
    document = orjson.dumps(rows, default=orjson_default, option=orjson.OPT_NAIVE_UTC)
    await session.execute(_json_rows_insert(table, names), {"rows": document.decode()})


def orjson_default(value: object) -> str:
    """orjson's `default` for rows read through asyncpg: its UUIDs (a subclass orjson does not
    take for `uuid.UUID`) as text."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


@functools.cache
def _json_rows_insert(table: Table, names: tuple[str, ...]) -> Insert:
    """`INSERT INTO table (names) SELECT names FROM json_to_recordset(:rows) AS r(name type,
    ...)`: built once per table and column set (SQLAlchemy then caches its compiled form)."""
    rows = func.json_to_recordset(cast(bindparam("rows", type_=Text), postgresql.JSON))
    source = rows.table_valued(*(column(name, table.c[name].type) for name in names))
    return portable_insert(table).from_select(
        names, select(*source.render_derived(with_types=True).c)
    )


def jsonb(value: Any) -> ColumnElement[Any]:
    """A JSON value as a PostgreSQL `jsonb` literal (for `@>` and equality with jsonb columns)."""
    return cast(literal(value, postgresql.JSONB), postgresql.JSONB)


async def fetchrow(database: Database, sql: str, *args: Any) -> Any:
    """PostgreSQL only: one statement sent straight through asyncpg on a pooled connection, with
    no transaction around it (autocommitted; one statement reads one consistent snapshot). For
    the hottest paths, where SQLAlchemy's per-statement work shows. Returns the first row. The
    connection is one the hot reads keep checked out (`db.engine.HotConnections`) when there is
    one."""
    if database.hot_connections is not None:
        return await database.hot_connections.fetchrow(sql, args)
    return await run_once(database.engine, "fetchrow", sql, args)


async def fetch(database: Database, sql: str, *args: Any) -> list[Any]:
    """PostgreSQL only: like `fetchrow`, all the rows (`args` bound positionally, `$1`...). The
    rows are asyncpg records (SQLAlchemy's type processing is not applied: cast in the SQL)."""
    if database.hot_connections is not None:
        return await database.hot_connections.fetch(sql, args)
    rows: list[Any] = await run_once(database.engine, "fetch", sql, args)
    return rows


async def sqlite_fetchone(database: Database, sql: str, params: dict[str, Any]) -> Any:
    """SQLite only: one statement on the database's read connections, on the calling thread's
    own when it is quick, else on a read thread (db/sqlite_reads.py); no transaction around it
    (one statement reads one consistent snapshot). The counterpart of `fetchrow`."""
    if database.sqlite_reads is None:
        async with database.engine.connect() as connection:
            result = await connection.exec_driver_sql(sql, params)
            return result.first()
    return await database.sqlite_reads.fetchone(sql, params)


async def sqlite_write_fetchone(database: Database, sql: str, params: dict[str, Any]) -> Any:
    """SQLite only: one write statement (with RETURNING) straight through aiosqlite on a pooled
    engine connection, autocommitted: the statement is its own transaction, takes the write
    lock only while it runs and waits for it on the connection's thread (the busy timeout), as
    every write does. One trip to that thread, where a session's BEGIN IMMEDIATE, statement,
    fetch and COMMIT are one each plus the ORM's work (a rate-limit charge: ~1.8 ms of CPU that
    way, ~0.18 ms this way; issue 15). Returns the first row."""
    rows = await run_once(database.engine, "execute_fetchall", sql, (params,))  # aiosqlite's
    return rows[0] if rows else None


async def sqlite_fetchall(
    database: Database, sql: str, params: dict[str, Any], *, inline: bool
) -> list[Any]:
    """SQLite only: like `sqlite_fetchone`, all the rows; `inline=False` for a statement that
    may scan (it goes to a read thread at once). The counterpart of `fetch`."""
    if database.sqlite_reads is None:
        async with database.engine.connect() as connection:
            result = await connection.exec_driver_sql(sql, params)
            return list(result.all())
    return await database.sqlite_reads.fetchall(sql, params, inline=inline)
