"""Request-time checks and the hand-off to the workflow engine."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.knowledge.errors import CollectionNotFound
from callplane.knowledge.repository import CollectionRepository
from callplane.models import WorkflowRun
from callplane.scaffolding import workflow
from callplane.scaffolding.schemas import CreateDemo, CreateFromWebsite
from callplane.workflows import service as workflows
from callplane.workflows.service import derive_workflow_id


async def start_from_website(
    session: AsyncSession, organization_id: uuid.UUID, body: CreateFromWebsite, request: Request
) -> WorkflowRun:
    """Unknown `existing_*` ids are 404 now, not a failed workflow later."""
    if body.existing_agent_id and not await AgentRepository(session, organization_id).get(
        body.existing_agent_id
    ):
        raise AgentNotFound("existing_agent_id: agent not found.")
    if body.existing_collection_id and not await CollectionRepository(session, organization_id).get(
        body.existing_collection_id
    ):
        raise CollectionNotFound("existing_collection_id: knowledge collection not found.")
    spec: dict[str, Any] = {
        **body.model_dump(mode="json", exclude={"company_website"}),
        "website": body.company_website,
    }
    return await workflows.start(
        session,
        organization_id,
        workflow_id=derive_workflow_id(request),
        type_=workflow.FROM_WEBSITE,
        input_=spec,
        workflow=workflow.create_from_website,
        total_steps=4 if body.skip_deployment else 5,
    )


async def start_demo(
    session: AsyncSession, organization_id: uuid.UUID, body: CreateDemo, request: Request
) -> WorkflowRun:
    spec: dict[str, Any] = {
        "website": body.company_website,
        "instructions": body.instructions,
        "include_phone_number": body.include_phone_number,
        "is_demo": True,
    }
    return await workflows.start(
        session,
        organization_id,
        workflow_id=derive_workflow_id(request),
        type_=workflow.DEMO,
        input_=spec,
        workflow=workflow.create_demo,
        total_steps=5,
    )
