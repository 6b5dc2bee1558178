from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from callplane.agents.schemas import ConversationStats
from callplane.db.repository import OrgRepository
from callplane.kit.filters import TimeFilters
from callplane.kit.pagination import paginate
from callplane.models import Conversation


class ConversationRepository(OrgRepository[Conversation]):
    model = Conversation

    async def list(
        self,
        *,
        agent_id: uuid.UUID | None,
        channel: str | None,
        status: str | None,
        direction: str | None,
        times: TimeFilters,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Conversation], str | None]:
        statement = self.scoped()
        if agent_id is not None:
            statement = statement.where(Conversation.agent_id == agent_id)
        if channel is not None:
            statement = statement.where(Conversation.channel == channel)
        if status is not None:
            statement = statement.where(Conversation.status == status)
        if direction is not None:
            statement = statement.where(Conversation.direction == direction)
        statement = times.apply(statement, Conversation.created_at, Conversation.updated_at)
        return await paginate(
            self.session,
            statement,
            (Conversation.created_at, Conversation.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def stats(self, agent_id: uuid.UUID) -> ConversationStats:
        """Counts by status and channel, durations and recency, in one grouped query."""
        when = func.coalesce(Conversation.started_at, Conversation.created_at)
        statement = (
            select(
                Conversation.status,
                Conversation.channel,
                func.count(),
                func.sum(Conversation.duration_seconds),
                func.count(Conversation.duration_seconds),
                func.max(when),
            )
            .where(
                Conversation.organization_id == self.organization_id,
                Conversation.agent_id == agent_id,
            )
            .group_by(Conversation.status, Conversation.channel)
        )
        stats = ConversationStats()
        timed = 0
        last: datetime | None = None
        for (
            status,
            channel,
            count,
            duration_sum,
            duration_count,
            latest,
        ) in await self.session.execute(statement):
            stats.total += count
            stats.by_status[status] = stats.by_status.get(status, 0) + count
            stats.by_channel[channel] = stats.by_channel.get(channel, 0) + count
            stats.total_duration_seconds += float(duration_sum or 0)
            timed += duration_count
            when_latest = _as_datetime(latest)
            if when_latest is not None and (last is None or when_latest > last):
                last = when_latest
        if timed:
            stats.average_duration_seconds = stats.total_duration_seconds / timed
        stats.last_conversation_at = last
        return stats


def _as_datetime(value: object) -> datetime | None:
    """max() over a SQLite text column comes back as a string; PostgreSQL gives a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
