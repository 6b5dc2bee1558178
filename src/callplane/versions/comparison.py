"""Comparing two versions: the structured diff, and a plain-language summary streamed as it is
written (SPEC §4). Both come from the same `diff_configs`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from callplane.agents.auth import AgentsReader
from callplane.agents.errors import AgentNotFound
from callplane.db.session import ReadSession
from callplane.errors import merge_responses
from callplane.kit.schemas import RequestModel, ResponseModel
from callplane.models import AgentVersion
from callplane.versions.diff import diff_configs
from callplane.versions.errors import VersionNotFound
from callplane.versions.schemas import MAX_VERSION
from callplane.versions.service import VersionService

router = APIRouter(prefix="/core/agents/{agent_id}/versions", tags=["versions"])

VersionRef = Annotated[int, Field(ge=1, le=MAX_VERSION)] | Literal["latest"]


class CompareRequest(RequestModel):
    from_version: VersionRef = Field(description="A version number or `latest`.")
    to_version: VersionRef = Field(description="A version number or `latest`.")


class ChangeRead(ResponseModel):
    path: str
    op: Literal["added", "removed", "changed"]
    before: Any
    after: Any


class DiffRead(ResponseModel):
    from_version: int
    to_version: int
    changes: list[ChangeRead]


async def _resolve(service: VersionService, agent_id: uuid.UUID, ref: int | str) -> AgentVersion:
    """`latest` is the newest existing version here: comparing never creates a draft."""
    if ref == "latest":
        await service.agent(agent_id)
        newest = await service.versions.newest(agent_id)
        if newest is None:
            raise VersionNotFound("The agent has no versions.")
        return newest
    return await service.get(agent_id, int(ref))


def _parse_ref(raw: str) -> int | str:
    return raw if raw == "latest" else int(raw)


REF_PATTERN = "^([0-9]{1,9}|latest)$"


@router.get(
    "/diff", response_model=DiffRead, responses=merge_responses(AgentNotFound, VersionNotFound)
)
async def diff_agent_versions(
    agent_id: uuid.UUID,
    subject: AgentsReader,
    session: ReadSession,
    from_: Annotated[str, Query(alias="from", pattern=REF_PATTERN)],
    to: Annotated[str, Query(pattern=REF_PATTERN)],
) -> DiffRead:
    """What changed from one version's config to another's, as `{path, op, before, after}`."""
    service = VersionService(session, subject.organization_id)
    before = await _resolve(service, agent_id, _parse_ref(from_))
    after = await _resolve(service, agent_id, _parse_ref(to))
    changes = diff_configs(before.config, after.config)
    return DiffRead(
        from_version=before.version,
        to_version=after.version,
        changes=[ChangeRead(path=c.path, op=c.op, before=c.before, after=c.after) for c in changes],
    )


@router.post(
    "/compare",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A plain-language summary of the changes, streamed as it is written.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **merge_responses(AgentNotFound, VersionNotFound),
    },
)
async def compare_agent_versions(
    agent_id: uuid.UUID,
    body: CompareRequest,
    subject: AgentsReader,
    session: ReadSession,
    request: Request,
) -> StreamingResponse:
    """Stream a summary of what changed between two versions (`text/plain`, chunked).

    Unknown versions answer 404 before anything is streamed.
    """
    service = VersionService(session, subject.organization_id)
    before = await _resolve(service, agent_id, body.from_version)
    after = await _resolve(service, agent_id, body.to_version)
    changes = diff_configs(before.config, after.config)
    chunks = request.app.state.writer.summarize_changes(
        changes, from_version=before.version, to_version=after.version
    )

    async def encoded() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk.encode()

    return StreamingResponse(encoded(), media_type="text/plain; charset=utf-8")
