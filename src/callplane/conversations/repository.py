from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.schemas import ConversationStats
from callplane.db import dialect
from callplane.db.repository import OrgRepository
from callplane.kit.filters import TimeFilters
from callplane.kit.pagination import paginate
from callplane.models import AgentConversationStat, AgentConversationSummary, Conversation


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

    async def count_in_stats(self, rows: Sequence[Conversation]) -> None:
        """Add new conversations to their agents' running totals (one upsert per group, in key
        order: two transactions that count for the same agents lock their rows in one order)."""
        groups: dict[tuple[uuid.UUID, str, str], builtins.list[Conversation]] = {}
        for row in rows:
            if row.agent_id is not None:
                groups.setdefault((row.agent_id, row.status, row.channel), []).append(row)
        table = AgentConversationStat
        for (agent_id, status, channel), members in sorted(groups.items()):
            durations = [m.duration_seconds for m in members if m.duration_seconds is not None]
            statement = dialect.insert(self.session, table).values(
                agent_id=agent_id,
                status=status,
                channel=channel,
                organization_id=self.organization_id,
                conversations=len(members),
                duration_total=float(sum(durations)),
                durations_counted=len(durations),
                last_conversation_at=max(m.started_at or m.created_at for m in members),
            )
            new = statement.excluded
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.agent_id, table.status, table.channel],
                    set_={
                        "conversations": table.conversations + new.conversations,
                        "duration_total": table.duration_total + new.duration_total,
                        "durations_counted": table.durations_counted + new.durations_counted,
                        "last_conversation_at": case(
                            (
                                or_(
                                    table.last_conversation_at.is_(None),
                                    new.last_conversation_at > table.last_conversation_at,
                                ),
                                new.last_conversation_at,
                            ),
                            else_=table.last_conversation_at,
                        ),
                    },
                )
            )

    async def uncount(self, row: Conversation, status: str) -> None:
        """Take a conversation out of its agent's totals under the `status` it left
        (`count_in_stats` then counts it under the new one). Live conversations are counted
        without a duration while in progress, so only the count moves; a group left empty is
        deleted, so the stats show no `in_progress: 0`.

        An upsert rather than an UPDATE: on PostgreSQL an insert's trigger locks the agent's
        summary row before the group's row (migration 0022_detailstats_summaries), the order
        every writer of the totals keeps; an UPDATE would lock the group's row first and could
        deadlock against a conversation of the same agent starting."""
        if row.agent_id is None:
            return
        table = AgentConversationStat
        statement = dialect.insert(self.session, table).values(
            agent_id=row.agent_id,
            status=status,
            channel=row.channel,
            organization_id=self.organization_id,
            conversations=-1,
            duration_total=0.0,
            durations_counted=0,
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.agent_id, table.status, table.channel],
                set_={"conversations": table.conversations + statement.excluded.conversations},
            )
        )
        await self.session.execute(
            delete(table).where(
                table.agent_id == row.agent_id,
                table.status == status,
                table.channel == row.channel,
                table.conversations <= 0,
                table.durations_counted == 0,
            )
        )

    async def stats(self, agent_id: uuid.UUID) -> ConversationStats:
        """Counts by status and channel, durations and recency: the agent's summary row, which
        triggers keep from the running totals (none until its first conversation)."""
        statement = select(AgentConversationSummary).where(
            AgentConversationSummary.organization_id == self.organization_id,
            AgentConversationSummary.agent_id == agent_id,
        )
        row = await self.session.scalar(statement)
        if row is None:
            return ConversationStats()
        return ConversationStats(
            total=row.total,
            by_status=row.by_status,
            by_channel=row.by_channel,
            average_duration_seconds=(
                row.duration_total / row.durations_counted if row.durations_counted else None
            ),
            total_duration_seconds=row.duration_total,
            last_conversation_at=row.last_conversation_at,
        )


async def idle_conversations(
    session: AsyncSession, now: datetime, limit: int
) -> builtins.list[tuple[uuid.UUID, uuid.UUID]]:
    """Housekeeping, across organizations: (organization id, conversation id) of live
    conversations past their idle expiry, oldest expiry first."""
    statement = (
        select(Conversation.organization_id, Conversation.id)
        .where(Conversation.status == "in_progress", Conversation.expires_at < now)
        .order_by(Conversation.expires_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]
