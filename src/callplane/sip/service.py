"""SIP endpoint state lives on the agent; calls to it are answered by the live version."""

from __future__ import annotations

from callplane.agents.errors import AgentNotPublished
from callplane.db.types import utcnow
from callplane.models import Agent


def deploy(agent: Agent) -> None:
    """Idempotent: deploying again keeps the original `deployed_at`."""
    if agent.live_version_id is None:
        raise AgentNotPublished()
    if not agent.sip_enabled:
        agent.sip_enabled = True
        agent.sip_deployed_at = utcnow()
        agent.revision += 1


def remove(agent: Agent) -> None:
    if agent.sip_enabled:
        agent.sip_enabled = False
        agent.sip_deployed_at = None
        agent.revision += 1
