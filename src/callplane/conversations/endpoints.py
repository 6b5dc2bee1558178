"""`/core/conversations`: conversation records, their import, and their privacy split."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any, get_args

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.auth.dependencies import Requires, authorize
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.conversations.errors import (
    AgentNotLive,
    ConfigNotRunnable,
    ConversationEnded,
    ConversationNotFound,
    MessageTooLong,
)
from callplane.conversations.live import LiveConversationService, LiveRuntime, prepare_turn
from callplane.conversations.repository import ConversationRepository
from callplane.conversations.schemas import (
    Channel,
    ConversationImportRequest,
    ConversationImportResult,
    ConversationRead,
    Direction,
    LiveConversationRead,
    LiveConversationStart,
    MessageCreate,
    Status,
    TurnEvent,
    TurnRead,
)
from callplane.conversations.service import ConversationService, to_read
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import UnprocessableRequest, merge_responses
from callplane.idempotency.middleware import STORE_STREAM, reservation
from callplane.idempotency.repository import mark_committed
from callplane.kit import quick
from callplane.kit.filters import TimeFilters, time_filters
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.runtime.events import Done, Event
from callplane.versions.errors import VersionNotFound

router = APIRouter(prefix="/core/conversations", tags=["conversations"])
# Starting a conversation is addressed through its agent.
agent_router = APIRouter(prefix="/core/agents", tags=["conversations"])

READ_SCOPES = (Scope.CONVERSATIONS_READ, Scope.CONVERSATIONS_READ_SENSITIVE)
Reader = Annotated[AuthSubject, Requires(*READ_SCOPES)]
Manager = Annotated[AuthSubject, Requires(Scope.CONVERSATIONS_MANAGE)]


async def list_conversations(
    subject: Reader,
    session: ReadSession,
    times: Annotated[TimeFilters, Depends(time_filters)],
    agent_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    status: Status | None = None,
    direction: Direction | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[ConversationRead]:
    rows, next_cursor = await ConversationRepository(session, subject.organization_id).list(
        agent_id=agent_id,
        channel=channel,
        status=status,
        direction=direction,
        times=times,
        limit=limit,
        cursor=cursor,
    )
    return Page.of([to_read(row, subject) for row in rows], limit, next_cursor)


router.add_api_route(
    "",
    list_conversations,
    methods=["GET"],
    response_model=Page[ConversationRead],
    responses=merge_responses(InvalidCursor),
    route_class_override=quick.quick(
        {
            "agent_id": quick.uuid_text,
            "channel": quick.choice(*get_args(Channel)),
            "status": quick.choice(*get_args(Status)),
            "direction": quick.choice(*get_args(Direction)),
            "limit": quick.integer(1, 100),
            "cursor": quick.text(512),
        },
        quick.endpoint_page(
            list_conversations, partial(authorize, accepted=READ_SCOPES), times=TimeFilters()
        ),
    ),
)


@router.post(
    "/import",
    status_code=201,
    response_model=ConversationImportResult,
    responses=merge_responses(AgentNotFound, UnprocessableRequest),
)
async def import_conversations(
    body: ConversationImportRequest, subject: Manager, session: WriteSession
) -> ConversationImportResult:
    """Import historical conversation records (all or nothing, up to 500 per call)."""
    service = ConversationService(session, subject.organization_id)
    rows = await service.import_records(body.conversations)
    return ConversationImportResult(imported=len(rows), ids=[row.id for row in rows])


@router.get(
    "/{conversation_id}",
    response_model=ConversationRead,
    responses=merge_responses(ConversationNotFound),
)
async def get_conversation(
    conversation_id: uuid.UUID, subject: Reader, session: ReadSession
) -> ConversationRead:
    conversation = await ConversationRepository(session, subject.organization_id).get(
        conversation_id
    )
    if conversation is None:
        raise ConversationNotFound()
    return to_read(conversation, subject)


# --- live conversations -------------------------------------------------------------------------


def live_runtime(request: Request) -> LiveRuntime:
    runtime: LiveRuntime = request.app.state.live_runtime
    return runtime


def live_read(started: Any) -> LiveConversationRead:
    row = started.conversation
    return LiveConversationRead(
        id=row.id,
        agent_id=row.agent_id,
        agent_version_id=row.agent_version_id,
        version=started.version,
        channel=row.channel,
        status=row.status,
        model=started.model,
        starting_message=started.starting_message,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


@agent_router.post(
    "/{agent_id}/conversations",
    status_code=201,
    response_model=LiveConversationRead,
    responses=merge_responses(AgentNotFound, VersionNotFound, AgentNotLive, ConfigNotRunnable),
)
async def start_conversation(
    agent_id: uuid.UUID,
    body: LiveConversationStart,
    subject: Manager,
    session: WriteSession,
    request: Request,
) -> LiveConversationRead:
    """Start a live conversation with a version of the agent (`live` by default; `latest` or a
    number to try a draft). The answer carries the agent's starting message, if it has one."""
    service = LiveConversationService(session, subject.organization_id, live_runtime(request))
    started = await service.start(
        agent_id,
        version=body.version,
        channel=body.channel,
        variables=body.variables,
        direction=body.direction,
        caller=body.caller,
        metadata=body.metadata,
    )
    return live_read(started)


SSE_DESCRIPTION = (
    "The agent's turn as Server-Sent Events (`event: delta|tool_call|tool_result|knowledge|"
    "action|error|done`, `data: <JSON>`); `done` is always last. With `Accept: "
    "application/json`, the whole turn as one JSON object (TurnRead)."
)


def _sse(event: Event) -> bytes:
    return b"event: " + event.event.encode() + b"\ndata: " + orjson.dumps(event.data()) + b"\n\n"


@router.post(
    "/{conversation_id}/messages",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        200: {
            "model": TurnRead,
            "description": SSE_DESCRIPTION,
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **merge_responses(ConversationNotFound, ConversationEnded, MessageTooLong),
        **merge_responses(ConfigNotRunnable),
    },
)
async def send_message(
    conversation_id: uuid.UUID, body: MessageCreate, subject: Manager, request: Request
) -> StreamingResponse | JSONResponse:
    """Send the user's message; the agent answers (streamed unless JSON is asked for).

    No database transaction is held while the model answers. With an Idempotency-Key, a retry
    gets the stored turn back (SSE or JSON, as first answered) instead of running it again."""
    reserved = reservation(request)
    prepared = await prepare_turn(
        request.app.state.database,
        live_runtime(request),
        subject.organization_id,
        conversation_id,
        body.content,
        idempotency_key=reserved.key if reserved is not None else None,
    )
    if reserved is not None:

        async def mark(session: AsyncSession) -> None:
            await mark_committed(session, request.state)

        prepared.on_persist = mark
        setattr(request.state, STORE_STREAM, True)
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/event-stream" not in accept:
        events = [event async for event in prepared.events()]
        done = next(event for event in reversed(events) if isinstance(event, Done))
        data = done.data()
        turn = TurnRead(
            message=data["message"],
            events=[TurnEvent(event=event.event, data=event.data()) for event in events],
            ended=data["ended"],
            ended_reason=data["ended_reason"],
            usage=data["usage"],
            model=data["model"],
        )
        return JSONResponse(turn.model_dump(mode="json"))

    async def stream() -> AsyncIterator[bytes]:
        async for event in prepared.events():
            yield _sse(event)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{conversation_id}/end",
    response_model=ConversationRead,
    responses=merge_responses(ConversationNotFound, ConversationEnded),
)
async def end_conversation(
    conversation_id: uuid.UUID, subject: Manager, session: WriteSession, request: Request
) -> ConversationRead:
    """End a live conversation (`ended_reason: ended_by_user`)."""
    service = LiveConversationService(session, subject.organization_id, live_runtime(request))
    row = await service.end(conversation_id)
    return to_read(row, subject)
