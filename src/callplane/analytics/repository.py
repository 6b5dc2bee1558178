"""The analytics SQL: time buckets, counts and duration percentiles, computed by the database.

Most of a range is read from the rollups the `conversations` triggers keep (migration
`rollups`, ADR 00XX-rollups): `conversation_rollups` (counts and sums) and
`conversation_duration_rollups` (conversations per whole second of duration), per UTC hour and
per UTC day. A range is cut into
- whole days (day and week buckets only) → the daily rollups,
- whole hours around them → the hourly rollups,
- the partial hours at its two edges → the raw conversations (by the analytics indexes).
Bucket boundaries fall on whole hours (and, for day and week buckets, on whole days), so every
hour or day read lies in one bucket. A conversation happened at `coalesce(started_at,
created_at)`; a bucket's number is `floor((happened - origin) / width)`.

Durations' p50/p90 are nearest-rank (the value at rank ceil(p·n/100)) over the durations
rounded down to the whole second (`floor(duration_seconds)`): exact at that resolution, the
same on both dialects, and computed from the histogram with a running sum (window functions).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Uuid,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db import dialect
from callplane.models import (
    AgentVersion,
    Conversation,
    ConversationDurationRollup,
    ConversationRollup,
)
from callplane.models.conversation_rollup import DAY, HOUR, NO_ID

HAPPENED_AT = func.coalesce(Conversation.started_at, Conversation.created_at)
PERCENTILES = (50, 90)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


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
class Plan:
    """Where each part of a window is read from."""

    raw: list[tuple[datetime, datetime]]  # [from, to) read from `conversations`
    rollups: list[tuple[int, int, int]]  # (grain, first period, period after the last)


def plan(window: Window) -> Plan:
    first_hour = -((_EPOCH - window.start) // _HOUR)  # ceil
    end_hour = (window.end - _EPOCH) // _HOUR
    if first_hour >= end_hour:
        return Plan([(window.start, window.end)], [])
    raw = []
    if _EPOCH + first_hour * _HOUR > window.start:
        raw.append((window.start, _EPOCH + first_hour * _HOUR))
    if _EPOCH + end_hour * _HOUR < window.end:
        raw.append((_EPOCH + end_hour * _HOUR, window.end))
    if window.width % _DAY == timedelta(0):  # day and week buckets are made of whole days
        first_day = -(-first_hour // 24)
        end_day = end_hour // 24
        if first_day < end_day:
            rollups = [(DAY, first_day, end_day)]
            if first_hour < first_day * 24:
                rollups.insert(0, (HOUR, first_hour, first_day * 24))
            if end_day * 24 < end_hour:
                rollups.append((HOUR, end_day * 24, end_hour))
            return Plan(raw, rollups)
    return Plan(raw, [(HOUR, first_hour, end_hour)])


@dataclass(frozen=True)
class Group:
    """One row of the counts: a bucket, a version and one status/channel/reason combination
    (the same key may come once from the rollups and once from the raw rows: they add up)."""

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


def _id(key: uuid.UUID | None) -> uuid.UUID | None:
    return None if key is None or key == NO_ID else key


class AnalyticsRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id

    # --- raw conversations (the partial hours at the edges) -----------------------------------

    def _raw_bucket(self, window: Window) -> ColumnElement[Any]:
        """floor((happened - origin) / width), an integer, on both dialects."""
        seconds = int(window.width.total_seconds())
        epoch = int(window.origin.timestamp())
        if dialect.is_postgres(self.session):
            return cast(func.floor((extract("epoch", HAPPENED_AT) - epoch) / seconds), BigInteger)
        return (func.unixepoch(HAPPENED_AT) - epoch) // seconds

    def _raw_second(self) -> ColumnElement[Any]:
        if dialect.is_postgres(self.session):
            return cast(func.floor(Conversation.duration_seconds), BigInteger)
        return cast(Conversation.duration_seconds, BigInteger)  # truncates: ≥ 0 here

    def _raw(self, statement: Select[Any], window: Window, parts: Plan) -> Select[Any]:
        ranges = [and_(low <= HAPPENED_AT, high > HAPPENED_AT) for low, high in parts.raw]
        statement = statement.where(
            Conversation.organization_id == self.organization_id, or_(false(), *ranges)
        )
        if window.agent_id is not None:
            statement = statement.where(Conversation.agent_id == window.agent_id)
        if window.version_id is not None:
            statement = statement.where(Conversation.agent_version_id == window.version_id)
        return statement

    # --- rollups ------------------------------------------------------------------------------

    def _rolled(
        self,
        statement: Select[Any],
        table: type[ConversationRollup] | type[ConversationDurationRollup],
        window: Window,
        parts: Plan,
    ) -> Select[Any]:
        ranges = [
            and_(table.grain == grain, table.period >= low, table.period < high)
            for grain, low, high in parts.rollups
        ]
        statement = statement.where(
            table.organization_id == self.organization_id, or_(false(), *ranges)
        )
        if window.agent_id is not None:
            statement = statement.where(table.agent_key == window.agent_id)
        if window.version_id is not None:
            statement = statement.where(table.version_key == window.version_id)
        return statement

    @staticmethod
    def _rolled_bucket(
        table: type[ConversationRollup] | type[ConversationDurationRollup], window: Window
    ) -> ColumnElement[Any]:
        seconds = int(window.width.total_seconds())
        epoch = int(window.origin.timestamp())
        return (table.period * table.grain * 3600 - epoch) // seconds

    # --- queries --------------------------------------------------------------------------------

    async def groups(self, window: Window) -> list[Group]:
        """Counts per (bucket, version, status, channel, ended reason): the rollups' rows and the
        edges' raw rows, a few hundred per bucket at most, rolled up by the service."""
        parts = plan(window)
        rows: list[Any] = []
        if parts.rollups:
            table = ConversationRollup
            bucket = self._rolled_bucket(table, window).label("bucket")
            statement = (
                self._rolled(
                    select(
                        bucket,
                        table.version_key,
                        table.status,
                        table.channel,
                        table.ended_reason,
                        func.sum(table.total),
                        func.sum(table.evaluated),
                        func.sum(table.successful),
                        func.sum(table.tool_calls),
                        func.sum(table.timed),
                        func.sum(table.duration_sum),
                    ),
                    table,
                    window,
                    parts,
                )
                .group_by(
                    bucket, table.version_key, table.status, table.channel, table.ended_reason
                )
                .having(func.sum(table.total) != 0)
            )
            rows += (await self.session.execute(statement)).all()
        if parts.raw:
            bucket = self._raw_bucket(window).label("bucket")
            statement = self._raw(
                select(
                    bucket,
                    Conversation.agent_version_id,
                    Conversation.status,
                    Conversation.channel,
                    Conversation.ended_reason,
                    func.count(),
                    func.count(Conversation.successful),
                    func.coalesce(
                        func.sum(case((Conversation.successful.is_(True), 1), else_=0)), 0
                    ),
                    func.coalesce(func.sum(Conversation.tool_call_count), 0),
                    func.count(Conversation.duration_seconds),
                    func.coalesce(func.sum(Conversation.duration_seconds), 0.0),
                ),
                window,
                parts,
            ).group_by(
                bucket,
                Conversation.agent_version_id,
                Conversation.status,
                Conversation.channel,
                Conversation.ended_reason,
            )
            rows += (await self.session.execute(statement)).all()
        return [
            Group(
                bucket=int(row[0]),
                version_id=_id(row[1]),
                status=row[2],
                channel=row[3],
                ended_reason=row[4] or None,
                total=int(row[5]),
                evaluated=int(row[6]),
                successful=int(row[7]),
                tool_calls=int(row[8]),
                timed=int(row[9]),
                duration_sum=float(row[10]),
            )
            for row in rows
        ]

    async def quantiles(
        self, window: Window
    ) -> tuple[dict[int, Quantiles], dict[tuple[int, uuid.UUID | None], Quantiles]]:
        """p50 and p90 of the known durations (whole seconds) per bucket, and per bucket and
        version, in one statement: the histogram of the rollups and the edges' raw rows, its
        running sum per bucket (and version), and the first second where it reaches the rank."""
        parts = plan(window)
        no_id = literal(NO_ID, Uuid)
        sources: list[Select[Any]] = []
        if parts.rollups:
            table = ConversationDurationRollup
            sources.append(
                self._rolled(
                    select(
                        self._rolled_bucket(table, window).label("bucket"),
                        table.version_key.label("v"),
                        table.second.label("s"),
                        table.n.label("n"),
                    ),
                    table,
                    window,
                    parts,
                ).where(table.n != 0)
            )
        if parts.raw:
            sources.append(
                self._raw(
                    select(
                        self._raw_bucket(window).label("bucket"),
                        func.coalesce(Conversation.agent_version_id, no_id).label("v"),
                        self._raw_second().label("s"),
                        literal(1).label("n"),
                    ),
                    window,
                    parts,
                ).where(Conversation.duration_seconds.is_not(None))
            )
        if not sources:
            return {}, {}
        merged = (sources[0] if len(sources) == 1 else union_all(*sources)).subquery("merged")
        histogram = (
            select(merged.c.bucket, merged.c.v, merged.c.s, func.sum(merged.c.n).label("n"))
            .group_by(merged.c.bucket, merged.c.v, merged.c.s)
            .cte("histogram")
        )
        per_version = select(
            literal(1).label("scope"),
            histogram.c.bucket,
            histogram.c.v,
            histogram.c.s,
            histogram.c.n,
        )
        overall = select(
            literal(0).label("scope"),
            histogram.c.bucket,
            no_id.label("v"),
            histogram.c.s,
            func.sum(histogram.c.n).label("n"),
        ).group_by(histogram.c.bucket, histogram.c.s)
        both = union_all(per_version, overall).subquery("both_scopes")
        partition = [both.c.scope, both.c.bucket, both.c.v]
        ranked = select(
            both.c.scope,
            both.c.bucket,
            both.c.v,
            both.c.s,
            func.sum(both.c.n)
            .over(partition_by=partition, order_by=both.c.s, rows=(None, 0))
            .label("cum"),
            func.sum(both.c.n).over(partition_by=partition).label("tot"),
        ).subquery("ranked")
        # nearest rank: the first second whose running count reaches ceil(p·n/100), i.e.
        # 100·cum ≥ p·n (cum is an integer).
        picks = [
            func.min(case((ranked.c.cum * 100 >= ranked.c.tot * p, ranked.c.s))).label(f"p{p}")
            for p in PERCENTILES
        ]
        statement = select(ranked.c.scope, ranked.c.bucket, ranked.c.v, *picks).group_by(
            ranked.c.scope, ranked.c.bucket, ranked.c.v
        )
        overall_by_bucket: dict[int, Quantiles] = {}
        by_version: dict[tuple[int, uuid.UUID | None], Quantiles] = {}
        for row in (await self.session.execute(statement)).all():
            p50 = None if row[3] is None else float(row[3])
            p90 = None if row[4] is None else float(row[4])
            quantiles = Quantiles(int(row[1]), _id(row[2]), p50, p90)
            if int(row[0]) == 0:
                overall_by_bucket[quantiles.bucket] = quantiles
            else:
                by_version[(quantiles.bucket, quantiles.version_id)] = quantiles
        return overall_by_bucket, by_version

    async def version_numbers(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not ids:
            return {}
        statement = select(AgentVersion.id, AgentVersion.version).where(
            AgentVersion.organization_id == self.organization_id,
            AgentVersion.id.in_(list(ids)),
        )
        return {row[0]: row[1] for row in (await self.session.execute(statement)).all()}
