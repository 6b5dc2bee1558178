"""The analytics SQL: time buckets, counts and duration percentiles, computed by the database.

Both dialects bucket by when a conversation happened, `coalesce(started_at, created_at)` (the
expression of the `ix_conversations_analytics_agent` index), into buckets of a fixed width
aligned on `origin`:
- PostgreSQL: `date_bin(width, ts, origin)`, and percentiles with `percentile_disc`;
- SQLite: `(unixepoch(ts) - origin) / width` (integer seconds), and percentiles with window
  functions (SQLite has no ordered-set aggregates): the row whose rank over the bucket's ordered
  durations is ceil(p·n).
Both percentiles are nearest-rank (a duration that occurred): the same numbers on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db import dialect
from callplane.models import AgentVersion, Conversation

HAPPENED_AT = func.coalesce(Conversation.started_at, Conversation.created_at)
PERCENTILES = (50, 90)


@dataclass(frozen=True)
class Window:
    organization_id: uuid.UUID
    agent_id: uuid.UUID | None
    version_id: uuid.UUID | None
    origin: datetime  # aligned on the interval; the first bucket starts here
    start: datetime  # rows from here (inclusive)...
    end: datetime  # ...to here (exclusive)
    width: timedelta


@dataclass(frozen=True)
class Group:
    """One row of the counts: a bucket, a version and one status/channel/reason combination."""

    bucket: int
    version_id: uuid.UUID | None
    status: str
    channel: str
    ended_reason: str | None
    total: int
    evaluated: int
    successful: int
    tool_calls: int
    timed: int
    duration_sum: float


@dataclass(frozen=True)
class Quantiles:
    bucket: int
    version_id: uuid.UUID | None
    p50: float | None
    p90: float | None


class AnalyticsRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id

    def _bucket(self, window: Window) -> ColumnElement[Any]:
        """The bucket's number (0 for the one starting at `origin`), or its start (PostgreSQL),
        turned into a number by `_index`."""
        if dialect.is_postgres(self.session):
            return func.date_bin(
                literal(window.width, postgresql.INTERVAL),
                HAPPENED_AT,
                literal(window.origin, postgresql.TIMESTAMP(timezone=True)),
            )
        seconds = int(window.width.total_seconds())
        epoch = int(window.origin.timestamp())
        return (func.unixepoch(HAPPENED_AT) - epoch) // seconds

    def _index(self, window: Window, value: Any) -> int:
        if isinstance(value, datetime):
            return int((value - window.origin) / window.width)
        return int(value)

    def _filtered(self, statement: Select[Any], window: Window) -> Select[Any]:
        statement = statement.where(
            Conversation.organization_id == self.organization_id,
            window.start <= HAPPENED_AT,
            window.end > HAPPENED_AT,
        )
        if window.agent_id is not None:
            statement = statement.where(Conversation.agent_id == window.agent_id)
        if window.version_id is not None:
            statement = statement.where(Conversation.agent_version_id == window.version_id)
        return statement

    async def groups(self, window: Window) -> list[Group]:
        """Counts per (bucket, version, status, channel, ended reason): a few hundred rows at
        most per bucket, rolled up by the service."""
        bucket = self._bucket(window).label("bucket")
        statement = self._filtered(
            select(
                bucket,
                Conversation.agent_version_id,
                Conversation.status,
                Conversation.channel,
                Conversation.ended_reason,
                func.count().label("total"),
                func.count(Conversation.successful).label("evaluated"),
                func.coalesce(
                    func.sum(case((Conversation.successful.is_(True), 1), else_=0)), 0
                ).label("successful"),
                func.coalesce(func.sum(Conversation.tool_call_count), 0).label("tool_calls"),
                func.count(Conversation.duration_seconds).label("timed"),
                func.coalesce(func.sum(Conversation.duration_seconds), 0.0).label("duration_sum"),
            ),
            window,
        ).group_by(
            literal_column("1"),
            Conversation.agent_version_id,
            Conversation.status,
            Conversation.channel,
            Conversation.ended_reason,
        )
        rows = (await self.session.execute(statement)).all()
        return [
            Group(
                bucket=self._index(window, row[0]),
                version_id=row[1],
                status=row[2],
                channel=row[3],
                ended_reason=row[4],
                total=int(row[5]),
                evaluated=int(row[6]),
                successful=int(row[7]),
                tool_calls=int(row[8]),
                timed=int(row[9]),
                duration_sum=float(row[10]),
            )
            for row in rows
        ]

    async def quantiles(self, window: Window, *, per_version: bool) -> list[Quantiles]:
        """p50 and p90 of the known durations per bucket (and per version if `per_version`)."""
        bucket = self._bucket(window).label("bucket")
        version = Conversation.agent_version_id if per_version else literal(None)
        known = Conversation.duration_seconds.is_not(None)
        if dialect.is_postgres(self.session):
            ordered = Conversation.duration_seconds
            statement = self._filtered(
                select(
                    bucket,
                    version.label("version_id"),
                    *(
                        func.percentile_disc(p / 100).within_group(ordered).label(f"p{p}")
                        for p in PERCENTILES
                    ),
                ).where(known),
                window,
            ).group_by(literal_column("1"), *([version] if per_version else []))
            rows = (await self.session.execute(statement)).all()
            return [Quantiles(self._index(window, row[0]), row[1], row[2], row[3]) for row in rows]
        partition = [bucket, Conversation.agent_version_id] if per_version else [bucket]
        ranked = self._filtered(
            select(
                bucket,
                version.label("version_id"),
                Conversation.duration_seconds.label("d"),
                func.row_number()
                .over(partition_by=partition, order_by=Conversation.duration_seconds)
                .label("rn"),
                func.count().over(partition_by=partition).label("n"),
            ).where(known),
            window,
        ).subquery()
        # ceil(p·n/100) in integers: (p·n + 99) / 100.
        picks = [
            func.max(case((ranked.c.rn == (p * ranked.c.n + 99) // 100, ranked.c.d))).label(f"p{p}")
            for p in PERCENTILES
        ]
        statement = select(ranked.c.bucket, ranked.c.version_id, *picks).group_by(
            ranked.c.bucket, ranked.c.version_id
        )
        rows = (await self.session.execute(statement)).all()
        return [Quantiles(int(row[0]), row[1], row[2], row[3]) for row in rows]

    async def version_numbers(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not ids:
            return {}
        statement = select(AgentVersion.id, AgentVersion.version).where(
            AgentVersion.organization_id == self.organization_id,
            AgentVersion.id.in_(list(ids)),
        )
        return {row[0]: row[1] for row in (await self.session.execute(statement)).all()}
