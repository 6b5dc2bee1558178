"""`/core/conversations`: conversation records, their import, and their privacy split."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from callplane.agents.errors import AgentNotFound
from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.conversations.errors import ConversationNotFound
from callplane.conversations.repository import ConversationRepository
from callplane.conversations.schemas import (
    Channel,
    ConversationImportRequest,
    ConversationImportResult,
    ConversationRead,
    Direction,
    Status,
)
from callplane.conversations.service import ConversationService, to_read
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import UnprocessableRequest, merge_responses
from callplane.kit.filters import TimeFilters, time_filters
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page

router = APIRouter(prefix="/core/conversations", tags=["conversations"])

Reader = Annotated[
    AuthSubject, Requires(Scope.CONVERSATIONS_READ, Scope.CONVERSATIONS_READ_SENSITIVE)
]
Manager = Annotated[AuthSubject, Requires(Scope.CONVERSATIONS_MANAGE)]


@router.get("", response_model=Page[ConversationRead], responses=merge_responses(InvalidCursor))
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
