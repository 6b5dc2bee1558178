"""`/core/agents/{id}/versions`: drafts, immutable published versions, `latest`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.auth import AGENTS_READ_SCOPES, AgentsManager, AgentsReader
from callplane.agents.errors import AgentNotFound
from callplane.auth.dependencies import authorize
from callplane.db.session import ReadSession, WriteSession, open_session
from callplane.errors import PreconditionFailed, merge_responses
from callplane.kit import quick
from callplane.kit.etags import etag_for
from callplane.kit.filters import TimeFilters, time_filters
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.models import AgentVersion
from callplane.versions import errors, generation
from callplane.versions.params import VersionNumber
from callplane.versions.schemas import (
    MAX_VERSION,
    GenerationRun,
    VersionCreate,
    VersionRead,
    VersionUpdate,
)
from callplane.versions.service import VersionService
from callplane.workflows.errors import WorkflowEngineUnavailable
from callplane.workflows.schemas import WorkflowAccepted
from callplane.workflows.service import WorkflowService, derive_workflow_id

router = APIRouter(prefix="/core/agents/{agent_id}/versions", tags=["versions"])

VersionRef = Annotated[
    str,
    Path(pattern="^([0-9]{1,9}|latest)$", description="A version number or `latest`."),
]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def version_read(version: AgentVersion) -> VersionRead:
    return VersionRead.model_validate(
        {
            **{k: getattr(version, k) for k in VersionRead.model_fields if k != "etag"},
            "etag": etag_for(version.revision),
        }
    )


def _respond(version: AgentVersion, response: Response) -> VersionRead:
    response.headers["ETag"] = etag_for(version.revision)
    return version_read(version)


async def _version_session(request: Request, version: VersionRef) -> AsyncIterator[AsyncSession]:
    """`latest` may create a draft, so it takes a write transaction; plain reads do not."""
    async for session in open_session(request, write=version == "latest"):
        yield session


async def list_agent_versions(
    agent_id: uuid.UUID,
    subject: AgentsReader,
    session: ReadSession,
    times: Annotated[TimeFilters, Depends(time_filters)],
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    published: bool | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[VersionRead]:
    """An agent's versions, newest first."""
    rows, next_cursor = await VersionService(session, subject.organization_id).list(
        agent_id, version=version, published=published, times=times, limit=limit, cursor=cursor
    )
    return Page.of([version_read(row) for row in rows], limit, next_cursor)


router.add_api_route(
    "",
    list_agent_versions,
    methods=["GET"],
    response_model=Page[VersionRead],
    responses=merge_responses(AgentNotFound, InvalidCursor),
    route_class_override=quick.quick(
        {
            "limit": quick.integer(1, 100),
            "cursor": quick.text(512),
            "version": quick.integer(1, MAX_VERSION),
            "published": quick.boolean,
        },
        quick.endpoint_page(
            list_agent_versions,
            partial(authorize, accepted=AGENTS_READ_SCOPES),
            times=TimeFilters(),
        ),
        path={"agent_id": quick.uuid_text},
    ),
)


@router.post(
    "",
    status_code=201,
    response_model=VersionRead,
    responses=merge_responses(AgentNotFound, errors.VersionNotFound),
)
async def create_agent_version(
    agent_id: uuid.UUID,
    body: VersionCreate,
    subject: AgentsManager,
    session: WriteSession,
    response: Response,
) -> VersionRead:
    """Create a draft from a `config`, or as a copy of `base_version`."""
    version = await VersionService(session, subject.organization_id).create(agent_id, body)
    return _respond(version, response)


@router.get(
    "/{version}",
    response_model=VersionRead,
    responses=merge_responses(AgentNotFound, errors.VersionNotFound),
)
async def get_agent_version(
    agent_id: uuid.UUID,
    version: VersionRef,
    subject: AgentsReader,
    session: Annotated[AsyncSession, Depends(_version_session, scope="function")],
    response: Response,
) -> VersionRead:
    """One version. `latest` returns the newest draft, creating one if the newest is published."""
    service = VersionService(session, subject.organization_id)
    found = await (
        service.latest(agent_id) if version == "latest" else service.get(agent_id, int(version))
    )
    return _respond(found, response)


@router.put(
    "/{version}",
    response_model=VersionRead,
    responses=merge_responses(
        AgentNotFound, errors.VersionNotFound, errors.VersionPublished, PreconditionFailed
    ),
)
async def update_agent_version(
    agent_id: uuid.UUID,
    version: VersionNumber,
    body: VersionUpdate,
    subject: AgentsManager,
    session: WriteSession,
    response: Response,
    if_match: IfMatch = None,
) -> VersionRead:
    """Update a draft's config and/or builder inputs. Published versions answer 400."""
    updated = await VersionService(session, subject.organization_id).update(
        agent_id, version, body, if_match
    )
    return _respond(updated, response)


@router.delete(
    "/{version}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(
        AgentNotFound, errors.VersionNotFound, errors.PublishedVersionUndeletable
    ),
)
async def delete_agent_version(
    agent_id: uuid.UUID, version: VersionNumber, subject: AgentsManager, session: WriteSession
) -> None:
    """Delete a draft. Published versions are history: 409."""
    await VersionService(session, subject.organization_id).delete(agent_id, version)


@router.post(
    "/{version}/generate-instructions",
    status_code=202,
    response_model=WorkflowAccepted,
    responses=merge_responses(
        AgentNotFound,
        errors.VersionNotFound,
        errors.NoBuilderInputs,
        errors.InstructionsGenerating,
        WorkflowEngineUnavailable,
    ),
)
async def generate_agent_version_instructions(
    agent_id: uuid.UUID,
    version: VersionNumber,
    subject: AgentsManager,
    session: WriteSession,
    request: Request,
) -> WorkflowAccepted:
    """Start writing the draft's instructions from its `instruction_builder_inputs` (202).

    The version shows `instructions_status: generating` (publishing waits) until it finishes;
    follow it at GET /core/workflows/{workflow_id}.
    """
    draft = await VersionService(session, subject.organization_id).start_generation(
        agent_id, version
    )
    run = await WorkflowService(session, subject.organization_id).start(
        workflow_id=derive_workflow_id(request),
        type_=generation.TYPE,
        input_=GenerationRun(
            agent_id=agent_id,
            version_id=draft.id,
            version=draft.version,
            inputs=draft.instruction_builder_inputs or {},
            instructions_before=draft.config.get("instructions", ""),
        ).model_dump(mode="json"),
        total_steps=generation.TOTAL_STEPS,
    )
    return WorkflowAccepted(workflow_id=run.id)
