"""SIP endpoint state lives on the agent; calls to it are answered by the live version."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotPublished
from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.models import Agent


async def deploy(session: AsyncSession, agent: Agent) -> None:
    """Idempotent: deploying again keeps the original `deployed_at` (and records nothing)."""
    if agent.live_version_id is None:
        raise AgentNotPublished()
    if not agent.sip_enabled:
        agent.sip_enabled = True
        agent.sip_deployed_at = utcnow()
        agent.revision += 1
        await _record(session, agent, "sip_endpoint.deployed")


async def remove(session: AsyncSession, agent: Agent) -> None:
    if agent.sip_enabled:
        agent.sip_enabled = False
        agent.sip_deployed_at = None
        agent.revision += 1
        await _record(session, agent, "sip_endpoint.removed")


async def _record(session: AsyncSession, agent: Agent, action: str) -> None:
    await audit.record(session, agent.organization_id, action, "agent", agent.id)
