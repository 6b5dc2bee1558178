"""`POST /core/agents/create-from-website` and `POST /core/agents/create-demo` (202)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from callplane.agents.auth import AgentsManager
from callplane.agents.errors import AgentNotFound
from callplane.db.session import WriteSession
from callplane.errors import merge_responses
from callplane.knowledge.errors import CollectionNotFound
from callplane.scaffolding.errors import WebsiteBlocked
from callplane.scaffolding.schemas import CreateDemo, CreateFromWebsite
from callplane.scaffolding.service import ScaffoldingService
from callplane.workflows.errors import WorkflowEngineUnavailable
from callplane.workflows.schemas import WorkflowAccepted

router = APIRouter(prefix="/core/agents", tags=["scaffolding"])


@router.post(
    "/create-from-website",
    status_code=202,
    response_model=WorkflowAccepted,
    responses=merge_responses(
        AgentNotFound, CollectionNotFound, WebsiteBlocked, WorkflowEngineUnavailable
    ),
)
async def create_agent_from_website(
    body: CreateFromWebsite, subject: AgentsManager, session: WriteSession, request: Request
) -> WorkflowAccepted:
    """Build an agent from a company website in the background: crawl it, store the pages as
    knowledge, write the config, create the agent (or a draft on `existing_agent_id`) and,
    unless `skip_deployment`, publish it, deploy it over SIP and create a web widget.

    A website the crawler could not start on is 422 at once and nothing is created:
    `website_invalid` (a host it cannot parse), `website_blocked` (a literal or a name resolving
    to a non-public address while private networks are not allowed; the message says which
    server setting allows them) or `website_unresolvable` (the name does not resolve). Every
    redirect and link is still checked during the crawl."""
    run = await ScaffoldingService(session, subject.organization_id).start_from_website(
        body, request
    )
    return WorkflowAccepted(workflow_id=run.id)


@router.post(
    "/create-demo",
    status_code=202,
    response_model=WorkflowAccepted,
    responses=merge_responses(WebsiteBlocked, WorkflowEngineUnavailable),
)
async def create_demo_agent(
    body: CreateDemo, subject: AgentsManager, session: WriteSession, request: Request
) -> WorkflowAccepted:
    """Build and deploy a demo agent from a website; `include_phone_number` assigns a free
    number of the organization (inbound) when there is one. The website is checked as for
    create-from-website: 422 `website_invalid`, `website_blocked` or `website_unresolvable`."""
    run = await ScaffoldingService(session, subject.organization_id).start_demo(body, request)
    return WorkflowAccepted(workflow_id=run.id)
