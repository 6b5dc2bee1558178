"""The two lookups behind resolve, one statement each: a voice runtime resolves on every call.

The statement goes straight to the driver on a pooled connection, with no transaction around it
(one statement reads one consistent snapshot): asyncpg through `db.dialect.fetchrow`, as the
agent detail does; on SQLite through `db.dialect.sqlite_fetchone` (the database's read
connections). Through SQLAlchemy Core, building and compiling the select and switching the
connection to autocommit and back cost several times the query on SQLite (profiled).

A caller that already holds a version's config (`service.ConfigCache`) names that version and
revision: the row then comes without the config (None), which spares the database writing a
jsonb document out as text on every call and the driver reading it. A version's config never
changes without its revision changing (a published one never changes), so the row itself says
whether the held config is the one answering.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from callplane.db import dialect
from callplane.db.engine import Database
from callplane.routing.schemas import Direction


@dataclass(frozen=True)
class Match:
    """The agent version answering an address, with what its ETag is made of."""

    agent_id: uuid.UUID  # asyncpg's own UUID type on PostgreSQL: str() it
    agent_name: str
    agent_revision: int
    version_id: uuid.UUID
    version: int
    version_revision: int
    # The JSON text, decoded only when needed; None: the version and revision the caller said
    # it holds the config of.
    config_source: dict[str, Any] | str | None

    @property
    def config(self) -> dict[str, Any]:
        """The stored config document (a 304 never decodes it)."""
        source = self.config_source
        if source is None:
            raise ValueError("the config was not read: the caller said it holds it")
        decoded: dict[str, Any] = orjson.loads(source) if isinstance(source, str) else source
        return decoded


Known = tuple[uuid.UUID, int]  # a version id and revision whose config the caller holds

_COLUMNS = (
    "a.id, a.name, a.revision, v.id, v.version, v.revision, "
    "CASE WHEN v.id = $3 AND v.revision = $4 THEN NULL ELSE v.config END"
)


def _sql(postgres: bool, sql: str) -> str:
    """The statement in the driver's placeholder style ($n for asyncpg, :pn for sqlite3), with
    the config sent as text (asyncpg would otherwise need a jsonb codec)."""
    if postgres:
        return sql.replace("ELSE v.config END", "ELSE v.config::text END")
    for n in (1, 2, 3, 4):
        sql = sql.replace(f"${n}", f":p{n}")
    return sql


# Slot columns are fixed names (never input): one statement text per slot.
_PHONE_SQL = {
    slot: f"""
SELECT {_COLUMNS}
FROM phone_numbers p
JOIN agent_versions v ON v.id = p.{slot}_agent_version_id AND v.organization_id = p.organization_id
JOIN agents a ON a.id = v.agent_id AND a.organization_id = p.organization_id
WHERE p.phone_number = $1 AND p.organization_id = $2
"""
    for slot in ("inbound", "outbound")
}

_SIP_SQL = f"""
SELECT {_COLUMNS}
FROM agents a
JOIN agent_versions v ON v.id = a.live_version_id AND v.organization_id = a.organization_id
WHERE a.id = $1 AND a.organization_id = $2 AND a.sip_enabled
"""

_STATEMENTS = {
    (postgres, key): _sql(postgres, sql)
    for postgres in (True, False)
    for key, sql in [*_PHONE_SQL.items(), ("sip", _SIP_SQL)]
}


async def by_phone_number(
    database: Database,
    organization_id: uuid.UUID,
    number: str,
    slot: Direction,
    known: Known | None = None,
) -> Match | None:
    """The version in the slot of this organization's number (E.164), or None."""
    return await _fetch(database, slot, number, organization_id, known)


async def by_sip_agent(
    database: Database, organization_id: uuid.UUID, agent_id: uuid.UUID, known: Known | None = None
) -> Match | None:
    """The live version of this organization's agent with a deployed SIP endpoint, or None."""
    return await _fetch(database, "sip", agent_id, organization_id, known)


async def _fetch(
    database: Database,
    statement: str,
    key: str | uuid.UUID,
    org: uuid.UUID,
    known: Known | None,
) -> Match | None:
    known_id, known_revision = known or (None, None)
    if dialect.is_postgres(database):
        row = await dialect.fetchrow(
            database, _STATEMENTS[True, statement], key, org, known_id, known_revision
        )
    else:
        # SQLite stores UUIDs as 32 hex digits (SQLAlchemy's Uuid without a native type).
        sqlite_key = key.hex if isinstance(key, uuid.UUID) else key
        params = {
            "p1": sqlite_key,
            "p2": org.hex,
            "p3": None if known_id is None else known_id.hex,
            "p4": known_revision,
        }
        row = await dialect.sqlite_fetchone(database, _STATEMENTS[False, statement], params)
        if row is not None:
            row = (uuid.UUID(row[0]), row[1], row[2], uuid.UUID(row[3]), *row[4:])
    return None if row is None else Match(*row)
