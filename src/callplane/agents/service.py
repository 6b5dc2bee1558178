"""Agent rules: CRUD, and the detail document that gathers an agent's whole deployment."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents import detail_sql, repository
from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.agents.schemas import (
    AgentCreate,
    AgentDetail,
    AgentRead,
    AgentUpdate,
    SipEndpoint,
    VersionSummary,
)
from callplane.audit import recorder as audit
from callplane.conversations.repository import ConversationRepository
from callplane.db import dialect
from callplane.db.engine import Database
from callplane.kit.etags import check_if_match, etag_for
from callplane.models import Agent
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.phone_numbers.schemas import PhoneNumberRead
from callplane.phone_numbers.slots import SlotWrites
from callplane.versions.repository import VersionRepository
from callplane.widgets.repository import WidgetRepository
from callplane.widgets.schemas import WidgetRead


def agent_read(agent: Agent) -> AgentRead:
    return AgentRead(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        active=agent.active,
        is_demo=agent.is_demo,
        metadata=agent.metadata_,
        live_version=agent.live_version,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
        etag=etag_for(agent.revision),
    )


def sip_endpoint(agent: Agent, sip_domain: str) -> SipEndpoint:
    return SipEndpoint(
        enabled=agent.sip_enabled,
        sip_uri=f"sip:{agent.id}@{sip_domain}" if agent.sip_enabled else None,
        deployed_at=agent.sip_deployed_at if agent.sip_enabled else None,
    )


class AgentService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.agents = AgentRepository(session, organization_id)

    async def get(self, agent_id: uuid.UUID, *, lock: bool = False) -> Agent:
        agent = await self.agents.get(agent_id, for_update=lock)
        if agent is None:
            raise AgentNotFound()
        return agent

    async def assemble_detail(self, agent_id: uuid.UUID, sip_domain: str) -> AgentDetail:
        agent = await self.get(agent_id)
        org = self.organization_id
        versions = await VersionRepository(self.session, org).summaries(agent_id)
        numbers = await PhoneNumberRepository(self.session, org).for_agent(agent_id)
        widgets = await WidgetRepository(self.session, org).for_agent(agent_id)
        stats = await ConversationRepository(self.session, org).stats(agent_id)
        return AgentDetail(
            **agent_read(agent).model_dump(),
            versions=[VersionSummary.model_validate(v) for v in versions],
            phone_numbers=[PhoneNumberRead.model_validate(n) for n in numbers],
            widgets=[WidgetRead.model_validate(w) for w in widgets],
            sip_endpoint=sip_endpoint(agent, sip_domain),
            conversation_stats=stats,
        )

    async def create(self, body: AgentCreate, *, agent_id: uuid.UUID | None = None) -> Agent:
        """A new agent; `agent_id` is the caller's choice of id (a workflow's, derived from its
        run so that a step run again finds the agent instead of making a second)."""
        agent = self.agents.add(
            Agent(
                **({"id": agent_id} if agent_id is not None else {}),
                name=body.name,
                description=body.description,
                active=body.active,
                is_demo=body.is_demo,
                metadata_=body.metadata,
                revision=1,
            )
        )
        await self.session.flush()
        await audit.record(
            self.session,
            self.organization_id,
            "agent.created",
            "agent",
            agent.id,
            {"name": agent.name, "active": agent.active, "is_demo": agent.is_demo},
        )
        return agent

    async def update(self, agent_id: uuid.UUID, body: AgentUpdate, if_match: str | None) -> Agent:
        agent = await self.get(agent_id, lock=True)
        check_if_match(if_match, agent.revision)
        changes = audit.update_from(agent, body, attributes={"metadata": "metadata_"})
        agent.revision += 1
        await self.session.flush()
        await audit.record(
            self.session, self.organization_id, "agent.updated", "agent", agent.id, changes
        )
        return agent

    async def delete(self, agent_id: uuid.UUID) -> None:
        """Versions, widgets and the SIP endpoint go with the agent; phone slots are emptied;
        conversations keep their history (they hold the agent id without a foreign key)."""
        agent = await self.get(agent_id, lock=True)
        slots = SlotWrites(self.session, self.organization_id)
        await slots.clear_agent(agent.id)
        widgets = await WidgetRepository(self.session, self.organization_id).for_agent(agent.id)
        agent.live_version_id = None
        await self.session.flush()
        await self.agents.delete(agent)
        for widget in widgets:  # removed by the cascade: each still leaves its event
            await audit.record(
                self.session,
                self.organization_id,
                "web_widget.deleted",
                "web_widget",
                widget.id,
                {"agent_id": agent.id},
            )
        await slots.record_changes()
        await audit.record(
            self.session,
            self.organization_id,
            "agent.deleted",
            "agent",
            agent.id,
            {"name": agent.name},
        )


async def agent_detail(
    database: Database, organization_id: uuid.UUID, agent_id: uuid.UUID, sip_domain: str
) -> tuple[bytes, str]:
    """The detail document as JSON bytes, and its ETag.

    The hottest read: the database builds it in one statement (see detail_sql.py), PostgreSQL
    on a raw pooled connection, SQLite on one of its read connections.
    """
    if dialect.is_postgres(database):
        found = await repository.detail_json(database, organization_id, agent_id, sip_domain)
    else:
        found = await detail_sql.sqlite_detail_json(database, organization_id, agent_id, sip_domain)
    if found is None:
        raise AgentNotFound()
    document, revision = found
    return document.encode(), etag_for(revision)
