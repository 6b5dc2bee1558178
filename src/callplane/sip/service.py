"""SIP endpoint state lives on the agent; calls to it are answered by the live version."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotPublished
from callplane.agents.service import AgentService
from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.models import Agent


class SipService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.agents = AgentService(session, organization_id)

    async def deploy(self, agent_id: uuid.UUID) -> Agent:
        """Idempotent: deploying again keeps the original `deployed_at` (and records nothing)."""
        agent = await self.agents.get(agent_id, lock=True)
        if agent.live_version_id is None:
            raise AgentNotPublished()
        if not agent.sip_enabled:
            agent.sip_enabled = True
            agent.sip_deployed_at = utcnow()
            agent.revision += 1
            await self._record(agent, "sip_endpoint.deployed")
        return agent

    async def remove(self, agent_id: uuid.UUID) -> Agent:
        """Idempotent: removing an endpoint that is not deployed changes (and records) nothing."""
        agent = await self.agents.get(agent_id, lock=True)
        if agent.sip_enabled:
            agent.sip_enabled = False
            agent.sip_deployed_at = None
            agent.revision += 1
            await self._record(agent, "sip_endpoint.removed")
        return agent

    async def _record(self, agent: Agent, action: str) -> None:
        await audit.record(self.session, self.organization_id, action, "agent", agent.id)
