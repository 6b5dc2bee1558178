from __future__ import annotations

import builtins
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal, or_, select, update

from callplane.agents.detail_sql import AGENT_DETAIL_SQL
from callplane.db import dialect
from callplane.db.engine import Database, canonical_json
from callplane.db.repository import OrgRepository
from callplane.kit.filters import TimeFilters, like_pattern
from callplane.kit.pagination import paginate
from callplane.models import Agent, PhoneNumber


class AgentRepository(OrgRepository[Agent]):
    model = Agent

    async def list(
        self,
        *,
        name: str | None,
        active: bool | None,
        is_demo: bool | None,
        metadata: dict[str, Any] | None,
        times: TimeFilters,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Agent], str | None]:
        statement = self.scoped()
        if name:
            statement = statement.where(Agent.name.ilike(like_pattern(name), escape="\\"))
        if active is not None:
            statement = statement.where(Agent.active == active)
        if is_demo is not None:
            statement = statement.where(Agent.is_demo == is_demo)
        if metadata:
            statement = self._metadata_contains(statement, metadata)
        statement = times.apply(statement, Agent.created_at, Agent.updated_at)
        return await paginate(
            self.session,
            statement,
            (Agent.created_at, Agent.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    def _metadata_contains(self, statement: Select[Agent], wanted: dict[str, Any]) -> Select[Agent]:
        """Agents whose metadata has every given top-level key with an equal value."""
        column = Agent.metadata_
        if dialect.is_postgres(self.session):
            # @> uses the GIN index; equality on non-scalars makes nested values exact, not subsets.
            statement = statement.where(column.op("@>")(dialect.jsonb(wanted)))
            for key, value in wanted.items():
                if isinstance(value, dict | list):
                    statement = statement.where(column[key] == dialect.jsonb(value))
            return statement
        # json_each, not a JSON path: SQLite matches a path's key against the stored (escaped)
        # text, so keys holding `"` or non-ASCII characters would never match.
        for key, value in wanted.items():
            entry = func.json_each(column).table_valued("key", "value", "type")
            kind, extracted = entry.c.type, entry.c.value
            if value is None:
                condition = kind == "null"
            elif isinstance(value, bool):
                condition = kind == ("true" if value else "false")
            elif isinstance(value, int | float):
                condition = and_(kind.in_(("integer", "real")), extracted == value)
            elif isinstance(value, str):
                condition = and_(kind == "text", extracted == value)
            else:
                condition = and_(
                    kind.in_(("object", "array")),
                    # Both sides in one spelling: key order and 1.0 vs 1 do not matter (jsonb).
                    func.cp_json_canonical(extracted) == literal(canonical_json(value)),
                )
            statement = statement.where(exists().where(entry.c.key == key, condition))
        return statement

    async def clear_phone_slots(self, agent_id: uuid.UUID) -> dict[str, builtins.list[str]]:
        """Empty every phone slot that points at one of this agent's versions; returns the slots
        emptied per number.

        The rows are locked first in phone-number order, the order publishing locks them in: an
        UPDATE alone locks in scan order and deadlocks with a concurrent publish."""
        locked = await self.session.execute(
            select(
                PhoneNumber.phone_number,
                PhoneNumber.inbound_agent_id,
                PhoneNumber.outbound_agent_id,
            )
            .where(
                PhoneNumber.organization_id == self.organization_id,
                or_(
                    PhoneNumber.inbound_agent_id == agent_id,
                    PhoneNumber.outbound_agent_id == agent_id,
                ),
            )
            .order_by(PhoneNumber.phone_number)
            .with_for_update()
        )
        emptied = {
            number: [
                slot
                for slot, holder in (("inbound", inbound), ("outbound", outbound))
                if holder == agent_id
            ]
            for number, inbound, outbound in locked
        }
        slots = (
            (
                PhoneNumber.inbound_agent_id,
                PhoneNumber.inbound_agent_version_id,
                PhoneNumber.inbound_version,
            ),
            (
                PhoneNumber.outbound_agent_id,
                PhoneNumber.outbound_agent_version_id,
                PhoneNumber.outbound_version,
            ),
        )
        for agent_column, version_id_column, version_column in slots:
            await self.session.execute(
                update(PhoneNumber)
                .where(
                    PhoneNumber.organization_id == self.organization_id, agent_column == agent_id
                )
                .values({agent_column: None, version_id_column: None, version_column: None})
                .execution_options(synchronize_session=False)
            )
        return emptied


async def detail_json(
    database: Database, organization_id: uuid.UUID, agent_id: uuid.UUID, sip_domain: str
) -> tuple[str, int] | None:
    """PostgreSQL only: the detail document and the agent's revision in one statement, sent
    straight through the driver on a pooled connection with no transaction around it (one
    statement reads one consistent snapshot). Scoped to the organization in the SQL itself."""
    row = await dialect.fetchrow(database, AGENT_DETAIL_SQL, agent_id, organization_id, sip_domain)
    return None if row is None else (row[0], row[1])
