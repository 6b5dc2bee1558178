"""The two lookups behind resolve, one statement each: a voice runtime resolves on every call.

PostgreSQL gets the statement straight through asyncpg on a pooled connection (as the agent
detail does, `db.dialect.fetchrow`); SQLite runs the same join through SQLAlchemy Core on an
autocommit connection (no transaction to open and roll back around one read).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, select

from callplane.db import dialect
from callplane.db.engine import Database
from callplane.models import Agent, AgentVersion, PhoneNumber
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
    config_source: dict[str, Any] | str  # PostgreSQL sends the text: decoded only when needed

    @property
    def config(self) -> dict[str, Any]:
        """The stored config document (a 304 never decodes it)."""
        source = self.config_source
        decoded: dict[str, Any] = orjson.loads(source) if isinstance(source, str) else source
        return decoded


_COLUMNS = "a.id, a.name, a.revision, v.id, v.version, v.revision, v.config::text"

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


def _core_columns() -> Select[Any]:
    return select(
        Agent.id,
        Agent.name,
        Agent.revision,
        AgentVersion.id,
        AgentVersion.version,
        AgentVersion.revision,
        AgentVersion.config,
    )


def _phone_statement(number: str, organization_id: uuid.UUID, slot: Direction) -> Select[Any]:
    held = (
        PhoneNumber.inbound_agent_version_id
        if slot == "inbound"
        else PhoneNumber.outbound_agent_version_id
    )
    return (
        _core_columns()
        .select_from(PhoneNumber)
        .join(
            AgentVersion,
            (AgentVersion.id == held) & (AgentVersion.organization_id == organization_id),
        )
        .join(
            Agent, (Agent.id == AgentVersion.agent_id) & (Agent.organization_id == organization_id)
        )
        .where(PhoneNumber.phone_number == number, PhoneNumber.organization_id == organization_id)
    )


def _sip_statement(agent_id: uuid.UUID, organization_id: uuid.UUID) -> Select[Any]:
    return (
        _core_columns()
        .select_from(Agent)
        .join(
            AgentVersion,
            (AgentVersion.id == Agent.live_version_id)
            & (AgentVersion.organization_id == organization_id),
        )
        .where(Agent.id == agent_id, Agent.organization_id == organization_id, Agent.sip_enabled)
    )


async def by_phone_number(
    database: Database, organization_id: uuid.UUID, number: str, slot: Direction
) -> Match | None:
    """The version in the slot of this organization's number (E.164), or None."""
    if dialect.is_postgres(database):
        return _from_pg(await dialect.fetchrow(database, _PHONE_SQL[slot], number, organization_id))
    return await _from_core(database, _phone_statement(number, organization_id, slot))


async def by_sip_agent(
    database: Database, organization_id: uuid.UUID, agent_id: uuid.UUID
) -> Match | None:
    """The live version of this organization's agent with a deployed SIP endpoint, or None."""
    if dialect.is_postgres(database):
        return _from_pg(await dialect.fetchrow(database, _SIP_SQL, agent_id, organization_id))
    return await _from_core(database, _sip_statement(agent_id, organization_id))


def _from_pg(row: Any) -> Match | None:
    if row is None:
        return None
    agent_id, name, agent_revision, version_id, version, version_revision, config = row
    return Match(agent_id, name, agent_revision, version_id, version, version_revision, config)


async def _from_core(database: Database, statement: Select[Any]) -> Match | None:
    async with database.autocommit() as connection:
        row = (await connection.execute(statement)).first()
    return None if row is None else Match(*row)
