"""`/core/agents`: the conversational units an organization publishes."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from callplane.agents.auth import AGENTS_READ_SCOPES, AgentsManager, AgentsReader
from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository, list_json, sqlite_list_json
from callplane.agents.schemas import (
    AgentCreate,
    AgentDetail,
    AgentRead,
    AgentUpdate,
)
from callplane.agents.service import AgentService, agent_detail, agent_read
from callplane.auth.dependencies import authorize
from callplane.db import dialect
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import PreconditionFailed, merge_responses
from callplane.kit import quick
from callplane.kit.etags import etag_for
from callplane.kit.filters import TimeFilters, time_filters
from callplane.kit.lean import lean, path_uuid
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page, unstorable

router = APIRouter(prefix="/core/agents", tags=["agents"])

IfMatch = Annotated[str | None, Header(alias="If-Match")]
MAX_METADATA_FILTER_KEYS = 50


async def _metadata_filter(  # async: a plain def dependency runs in a worker thread
    metadata: Annotated[
        str | None,
        Query(
            max_length=16 * 1024,
            description=f"A JSON object of at most {MAX_METADATA_FILTER_KEYS} keys; matches agents "
            "whose metadata has every given key/value, "
            'e.g. {"team":"sales"}.',
        ),
    ] = None,
) -> dict[str, Any] | None:
    if metadata is None:
        return None
    try:
        parsed = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        parsed = None
    # Each key is one more SQL condition: SQLite refuses a few hundred of them (500).
    too_many = isinstance(parsed, dict) and len(parsed) > MAX_METADATA_FILTER_KEYS
    if not isinstance(parsed, dict) or too_many or unstorable(parsed) is not None:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "metadata"),
                    "msg": f"metadata must be a JSON object of at most {MAX_METADATA_FILTER_KEYS} "
                    "keys with storable values",
                    "type": "json_object",
                }
            ]
        )
    return parsed


async def list_agents(
    subject: AgentsReader,
    session: ReadSession,
    times: Annotated[TimeFilters, Depends(time_filters)],
    metadata: Annotated[dict[str, Any] | None, Depends(_metadata_filter)],
    name: Annotated[
        str | None, Query(max_length=200, description="Case-insensitive substring.")
    ] = None,
    active: bool | None = None,
    is_demo: bool | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Response:
    """List agents, newest first."""
    rows, next_cursor = await AgentRepository(session, subject.organization_id).list(
        name=name,
        active=active,
        is_demo=is_demo,
        metadata=metadata,
        times=times,
        limit=limit,
        cursor=cursor,
    )
    page = {
        "data": [_row_document(row) for row in rows],
        "pagination": {"limit": limit, "next_cursor": next_cursor},
    }
    return Response(_page_json(page), media_type="application/json")


def _page_json(page: dict[str, Any]) -> bytes:
    """The page as orjson writes it, or, when a metadata value is an integer beyond 64 bits
    (PostgreSQL's jsonb keeps a stored `1e300` as a 301-digit number, which orjson refuses),
    as the standard library writes it: the same compact JSON, where it was a 500."""
    try:
        return orjson.dumps(page, option=_JSON_OPTIONS)
    except TypeError:
        text = json.dumps(
            page,
            separators=(",", ":"),
            ensure_ascii=False,
            default=lambda value: orjson.loads(orjson.dumps(value, option=_JSON_OPTIONS)),
        )
        return text.encode()


async def _quick_list_agents(request: Request, values: dict[str, Any]) -> Response:
    """`list_agents` for the requests `kit.quick` can parse alone (no metadata or time filter):
    no dependency solving, and the rows' JSON written by the database (either dialect) in one
    statement (`repository.list_json`, `sqlite_list_json`), as the detail route does."""
    subject = await authorize(request, AGENTS_READ_SCOPES)
    database = request.app.state.database
    limit = values.get("limit", 20)
    cursor = values.get("cursor")
    filters = {
        "name": values.get("name"),
        "active": values.get("active"),
        "is_demo": values.get("is_demo"),
    }
    read = list_json if dialect.is_postgres(database) else sqlite_list_json
    documents, next_cursor = await read(
        database, subject.organization_id, limit=limit, cursor=cursor, **filters
    )
    pagination = orjson.dumps({"limit": limit, "next_cursor": next_cursor})
    body = b'{"data":[%s],"pagination":%s}' % (",".join(documents).encode(), pagination)
    return Response(body, media_type="application/json")


router.add_api_route(
    "",
    list_agents,
    methods=["GET"],
    response_model=Page[AgentRead],
    responses=merge_responses(InvalidCursor),
    route_class_override=quick.quick(
        {
            "limit": quick.integer(1, 100),
            "cursor": quick.text(512),
            "name": quick.text(200),
            "active": quick.boolean,
            "is_demo": quick.boolean,
        },
        _quick_list_agents,
    ),
)


# Timestamps as `UTCDateTime` writes them: ISO-8601 in UTC with a `Z`.
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _row_document(row: Any) -> dict[str, Any]:
    """A list row (`AgentRepository.ROW_FIELDS`) as `AgentRead` JSON, without building models:
    Core rows encoded by orjson (issue 15: ORM objects and two rounds of Pydantic validation
    made a list page cost 4.5x the detail document's server CPU)."""
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "active": row.active,
        "is_demo": row.is_demo,
        "metadata": row.metadata_,
        "live_version": row.live_version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "etag": etag_for(row.revision),
    }


@router.post("", status_code=201, response_model=AgentRead)
async def create_agent(
    body: AgentCreate, subject: AgentsManager, session: WriteSession, response: Response
) -> AgentRead:
    """Create an agent. It has no versions until you create or request one."""
    agent = await AgentService(session, subject.organization_id).create(body)
    response.headers["ETag"] = etag_for(agent.revision)
    return agent_read(agent)


async def get_agent(agent_id: uuid.UUID, subject: AgentsReader, request: Request) -> Response:
    """One agent with its versions, phone numbers, widgets, SIP endpoint and conversation stats."""
    state = request.app.state
    document, etag = await agent_detail(
        state.database, subject.organization_id, agent_id, state.settings.sip_domain
    )
    return Response(document, media_type="application/json", headers={"ETag": etag})


async def _serve_get_agent(request: Request) -> Response:
    """`get_agent` without dependency solving: the hottest read (kit.lean)."""
    subject = await authorize(request, AGENTS_READ_SCOPES)
    return await get_agent(path_uuid(request, "agent_id"), subject, request)


router.add_api_route(
    "/{agent_id}",
    get_agent,
    methods=["GET"],
    response_model=AgentDetail,
    responses=merge_responses(AgentNotFound),
    route_class_override=lean(_serve_get_agent),
)


@router.put(
    "/{agent_id}",
    response_model=AgentRead,
    responses=merge_responses(AgentNotFound, PreconditionFailed),
)
async def update_agent(
    agent_id: uuid.UUID,
    body: AgentUpdate,
    subject: AgentsManager,
    session: WriteSession,
    response: Response,
    if_match: IfMatch = None,
) -> AgentRead:
    """Update name, description, active, is_demo or metadata; omitted fields stay."""
    agent = await AgentService(session, subject.organization_id).update(agent_id, body, if_match)
    response.headers["ETag"] = etag_for(agent.revision)
    return agent_read(agent)


@router.delete(
    "/{agent_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(AgentNotFound),
)
async def delete_agent(agent_id: uuid.UUID, subject: AgentsManager, session: WriteSession) -> None:
    """Delete an agent, its versions, widgets and SIP endpoint; empty its phone slots."""
    await AgentService(session, subject.organization_id).delete(agent_id)
