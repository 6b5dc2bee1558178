"""`GET /core/analytics/conversations`: time buckets of an organization's conversations."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from callplane.analytics.errors import InvalidRange
from callplane.analytics.schemas import ConversationAnalytics, Interval
from callplane.analytics.service import AnalyticsService
from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession
from callplane.errors import merge_responses
from callplane.kit.filters import Timestamp, _utc

router = APIRouter(prefix="/core/analytics", tags=["analytics"])

Reader = Annotated[
    AuthSubject, Requires(Scope.CONVERSATIONS_READ, Scope.CONVERSATIONS_READ_SENSITIVE)
]


@router.get(
    "/conversations",
    response_model=ConversationAnalytics,
    responses=merge_responses(InvalidRange),
)
async def get_conversation_analytics(
    subject: Reader,
    session: ReadSession,
    agent_id: uuid.UUID | None = None,
    version_id: Annotated[
        uuid.UUID | None, Query(description="An agent version's id (`id`, not its number).")
    ] = None,
    from_: Annotated[
        Timestamp | None,
        Query(
            alias="from", description="Start (inclusive); default: `to` minus 48 h / 30 d / 12 w."
        ),
    ] = None,
    to: Annotated[Timestamp | None, Query(description="End (exclusive); default: now.")] = None,
    interval: Interval = "day",
) -> Response:
    """Conversations per time bucket (UTC hours, days, or ISO weeks starting on Monday), by when
    they happened (`started_at`, else when recorded): counts by status, channel and ended
    reason, duration average and nearest-rank p50/p90, success rate (of the conversations the
    analysis gave a verdict), tool calls — per bucket and per agent version. Computed by the
    database. At most 1000 buckets (422 `invalid_range`)."""
    service = AnalyticsService(session, subject.organization_id)
    document = await service.conversations(
        agent_id=agent_id,
        version_id=version_id,
        start=_utc(from_, "from"),
        end=_utc(to, "to"),
        interval=interval,
    )
    return Response(document, media_type="application/json")
