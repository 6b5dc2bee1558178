"""`POST /core/agents/{id}/versions/{version}/publish` and `POST /core/agents/{id}/rollback`."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Body, Response

from callplane.agents.auth import AgentsManager
from callplane.agents.errors import AgentNotFound
from callplane.agenttests.errors import TestsNotPassed
from callplane.db import dialect
from callplane.db.session import WriteSession
from callplane.errors import merge_responses
from callplane.phone_numbers.schemas import PhoneNumberRead
from callplane.publishing.errors import (
    InvalidPhoneNumbers,
    PhoneNumbersNotRegistered,
    VersionNotPublished,
)
from callplane.publishing.schemas import (
    PublishedPhoneNumber,
    PublishRequest,
    RollbackRead,
    RollbackRequest,
)
from callplane.publishing.service import Published, PublishingService
from callplane.versions import errors
from callplane.versions.params import VersionNumber

router = APIRouter(prefix="/core/agents/{agent_id}", tags=["publishing"])


@router.post(
    "/versions/{version}/publish",
    response_model=list[PublishedPhoneNumber],
    responses=merge_responses(
        AgentNotFound,
        errors.VersionNotFound,
        PhoneNumbersNotRegistered,
        errors.InstructionsStale,
        InvalidPhoneNumbers,
        TestsNotPassed,
    ),
)
async def publish_agent_version(
    agent_id: uuid.UUID,
    version: VersionNumber,
    subject: AgentsManager,
    session: WriteSession,
    body: PublishRequest | None = Body(default=None),
) -> Response:
    """Publish the version, make it the agent's live version, and assign or unassign numbers.

    All or nothing. Re-publishing an older published version makes it live again, but moves only
    the numbers listed: `POST /core/agents/{id}/rollback` moves all of the agent's numbers.
    Blocked (409) while instructions are generating or stale. Returns the numbers addressed, each
    with `previous`: what its addressed slots held before, so a number taken from another agent
    shows.
    """
    publishing = PublishingService(session, subject.organization_id)
    published = await publishing.publish(agent_id, version, body or PublishRequest())
    return Response(published_json(published), media_type="application/json")


def published_json(published: list[Published]) -> bytes:
    """The `list[PublishedPhoneNumber]` document, encoded by orjson from the rows in hand: up to
    a thousand numbers' models validated and serialized were a tenth of a publish's time (issue
    15). A test holds it equal, byte for byte, to the models' own JSON."""
    return orjson.dumps(
        [
            {
                **{name: getattr(record, name) for name in _READ_FIELDS},
                "previous": {
                    slot: None if held is None else held._asdict()
                    for slot, held in previous.items()
                },
            }
            for record, previous in published
        ],
        option=_JSON_OPTIONS,
        default=dialect.orjson_default,
    )


_READ_FIELDS = tuple(PhoneNumberRead.model_fields)
# Timestamps as `UTCDateTime` writes them: ISO-8601 in UTC with a `Z`.
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@router.post(
    "/rollback",
    response_model=RollbackRead,
    responses=merge_responses(AgentNotFound, errors.VersionNotFound, VersionNotPublished),
)
async def rollback_agent(
    agent_id: uuid.UUID, body: RollbackRequest, subject: AgentsManager, session: WriteSession
) -> RollbackRead:
    """Make an earlier published version live again, and move the agent's phone lines with it.

    Every inbound and outbound slot that holds any version of this agent is moved to
    `to_version`, in the same transaction as the live version: no line is left on a version the
    agent rolled away from. Slots held by other agents are untouched. `to_version` must have been
    published before (a draft → 400 `version_not_published`: publish it instead). Answers the
    version now live, the one live before, and each slot moved (`from_version` → `to_version`).
    """
    publishing = PublishingService(session, subject.organization_id)
    return await publishing.rollback(agent_id, body.to_version)
