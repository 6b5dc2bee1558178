"""`/core/agents/{id}/deploy-as-sip`: expose an agent at sip:<agent-id>@<CALLPLANE_SIP_DOMAIN>."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from callplane.agents.auth import AgentsManager
from callplane.agents.errors import AgentNotFound, AgentNotPublished
from callplane.agents.schemas import SipEndpoint
from callplane.agents.service import sip_endpoint
from callplane.db.session import WriteSession
from callplane.errors import merge_responses
from callplane.sip.service import SipService

router = APIRouter(prefix="/core/agents/{agent_id}/deploy-as-sip", tags=["sip"])


@router.post(
    "", response_model=SipEndpoint, responses=merge_responses(AgentNotFound, AgentNotPublished)
)
async def deploy_agent_as_sip(
    agent_id: uuid.UUID, subject: AgentsManager, session: WriteSession, request: Request
) -> SipEndpoint:
    """Deploy (idempotent). Calls are answered by the agent's live version; 409 if none."""
    agent = await SipService(session, subject.organization_id).deploy(agent_id)
    return sip_endpoint(agent, request.app.state.settings.sip_domain)


@router.delete(
    "", status_code=204, response_class=Response, responses=merge_responses(AgentNotFound)
)
async def remove_agent_sip_endpoint(
    agent_id: uuid.UUID, subject: AgentsManager, session: WriteSession
) -> None:
    """Remove the SIP endpoint (idempotent)."""
    await SipService(session, subject.organization_id).remove(agent_id)
