from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select

from callplane.db.repository import OrgRepository
from callplane.kit.filters import TimeFilters
from callplane.kit.pagination import paginate
from callplane.models import Agent, AgentVersion


class VersionRepository(OrgRepository[AgentVersion]):
    model = AgentVersion

    async def get_number(
        self, agent_id: uuid.UUID, number: int, *, for_update: bool = False
    ) -> AgentVersion | None:
        statement = self.scoped().where(
            AgentVersion.agent_id == agent_id, AgentVersion.version == number
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def lock_with_agent(
        self, agent_id: uuid.UUID, number: int
    ) -> tuple[Agent, AgentVersion] | None:
        """The agent and its version `number`, both locked by one statement (publish and
        rollback take both: a round trip fewer than two lookups), or None if either is missing.
        PostgreSQL locks the joined rows in FROM order, the agent's first, the order every
        writer takes them in."""
        statement = (
            select(Agent, AgentVersion)
            .join(AgentVersion, AgentVersion.agent_id == Agent.id)
            .where(
                Agent.organization_id == self.organization_id,
                Agent.id == agent_id,
                AgentVersion.version == number,
            )
            .with_for_update()
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def newest(self, agent_id: uuid.UUID) -> AgentVersion | None:
        statement = (
            self.scoped()
            .where(AgentVersion.agent_id == agent_id)
            .order_by(AgentVersion.version.desc())
            .limit(1)
        )
        return (await self.session.scalars(statement)).first()

    async def next_number(self, agent_id: uuid.UUID) -> int:
        """Callers hold the agent's row lock, so numbers come out gap-free and unique."""
        statement = select(func.coalesce(func.max(AgentVersion.version), 0)).where(
            AgentVersion.agent_id == agent_id, AgentVersion.organization_id == self.organization_id
        )
        return int(await self.session.scalar(statement) or 0) + 1

    async def summaries(self, agent_id: uuid.UUID) -> Sequence[AgentVersion]:
        statement = (
            self.scoped()
            .where(AgentVersion.agent_id == agent_id)
            .order_by(AgentVersion.version.desc())
        )
        return (await self.session.scalars(statement)).all()

    async def list(
        self,
        agent_id: uuid.UUID,
        *,
        version: int | None,
        published: bool | None,
        times: TimeFilters,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[AgentVersion], str | None]:
        statement = self.scoped().where(AgentVersion.agent_id == agent_id)
        if version is not None:
            statement = statement.where(AgentVersion.version == version)
        if published is not None:
            statement = statement.where(AgentVersion.published == published)
        statement = times.apply(statement, AgentVersion.created_at, AgentVersion.updated_at)
        return await paginate(
            self.session, statement, (AgentVersion.version,), (int,), limit=limit, cursor=cursor
        )
