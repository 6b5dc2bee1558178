"""`POST /core/agents/{id}/versions/{version}/publish`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body

from callplane.agents.endpoints import AgentsManager
from callplane.agents.errors import AgentNotFound
from callplane.db.session import WriteSession
from callplane.errors import merge_responses
from callplane.phone_numbers.schemas import PhoneNumberRead
from callplane.publishing import service
from callplane.publishing.schemas import PublishRequest
from callplane.versions import errors
from callplane.versions.endpoints import VersionNumber

router = APIRouter(prefix="/core/agents/{agent_id}/versions", tags=["publishing"])


@router.post(
    "/{version}/publish",
    response_model=list[PhoneNumberRead],
    responses=merge_responses(
        AgentNotFound,
        errors.VersionNotFound,
        service.PhoneNumbersNotRegistered,
        errors.InstructionsStale,
        service.InvalidPhoneNumbers,
    ),
)
async def publish_agent_version(
    agent_id: uuid.UUID,
    version: VersionNumber,
    subject: AgentsManager,
    session: WriteSession,
    body: PublishRequest | None = Body(default=None),
) -> list[PhoneNumberRead]:
    """Publish the version, make it the agent's live version, and assign or unassign numbers.

    All or nothing. Re-publishing an older published version makes it live again (rollback).
    Blocked (409) while instructions are generating or stale. Returns the numbers touched.
    """
    touched = await service.publish(
        session, subject.organization_id, agent_id, version, body or PublishRequest()
    )
    return [PhoneNumberRead.model_validate(record) for record in touched]
