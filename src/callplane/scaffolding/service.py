"""Request-time checks and the hand-off to the workflow engine."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.crawler.errors import (
    BlockedAddress,
    InvalidStartUrl,
    PrivateAddress,
    SiteUnreachable,
)
from callplane.crawler.guard import check_start
from callplane.knowledge.errors import CollectionNotFound
from callplane.knowledge.repository import CollectionRepository
from callplane.models import WorkflowRun
from callplane.scaffolding import workflow
from callplane.scaffolding.errors import WebsiteBlocked, WebsiteInvalid, WebsiteUnresolvable
from callplane.scaffolding.schemas import Build, BuildRequest, CreateDemo, CreateFromWebsite
from callplane.workflows.service import WorkflowService, derive_workflow_id

ALLOW_PRIVATE_HINT = (
    "Set CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS=true on the server to allow private networks "
    "(never in production)."
)


async def check_website(website: str, request: Request) -> None:
    """What the crawl would refuse at its first connection is a 422 now, not a workflow that
    fails later. Called before the request touches the database: on SQLite a write transaction
    holds the write lock, which must not wait on DNS."""
    allow_private = bool(request.app.state.settings.crawler_allow_private_networks)
    try:
        await check_start(website, allow_private_networks=allow_private)
    except InvalidStartUrl as error:
        raise WebsiteInvalid(f"company_website: {error.message}") from None
    except PrivateAddress as error:
        raise WebsiteBlocked(f"company_website: {error.message} {ALLOW_PRIVATE_HINT}") from None
    except BlockedAddress as error:
        raise WebsiteBlocked(f"company_website: {error.message}") from None
    except SiteUnreachable as error:
        raise WebsiteUnresolvable(f"company_website: {error.message}") from None


class ScaffoldingService:
    """Accepting website builds: checked now, built by the workflow (scaffolding.workflow)."""

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id

    async def start_from_website(self, body: CreateFromWebsite, request: Request) -> WorkflowRun:
        """A website the crawl would refuse is 422 and unknown `existing_*` ids are 404 now, not
        a failed workflow later."""
        await check_website(body.company_website, request)
        org = self.organization_id
        if body.existing_agent_id and not await AgentRepository(self.session, org).get(
            body.existing_agent_id
        ):
            raise AgentNotFound("existing_agent_id: agent not found.")
        if body.existing_collection_id and not await CollectionRepository(self.session, org).get(
            body.existing_collection_id
        ):
            raise CollectionNotFound("existing_collection_id: knowledge collection not found.")
        return await self._start(request, workflow.FROM_WEBSITE, body)

    async def start_demo(self, body: CreateDemo, request: Request) -> WorkflowRun:
        await check_website(body.company_website, request)
        return await self._start(request, workflow.DEMO, body)

    async def _start(self, request: Request, type_: str, body: BuildRequest) -> WorkflowRun:
        """The run's input is the request itself (`workflow.request_of` reads it back)."""
        workflow_id = derive_workflow_id(request)
        return await WorkflowService(self.session, self.organization_id).start(
            workflow_id=workflow_id,
            type_=type_,
            input_=body.model_dump(mode="json"),
            total_steps=Build.of(workflow_id, self.organization_id, body).steps,
        )
