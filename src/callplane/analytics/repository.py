"""The analytics SQL: time buckets, counts and duration percentiles, computed by the database.

Most of a range is read from the rollups the `conversations` triggers keep (migration
`rollups`, ADR 0021): `conversation_rollups` (counts and sums) and
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
same on both dialects, found from the histogram's running count.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate, chain
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
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
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db import dialect
from callplane.models import (
    AgentVersion,
    Conversation,
    ConversationDurationRollup,
    ConversationRollup,
)
from callplane.models.conversation_rollup import DAY, HOUR, NO_ID, SUMS

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


def _ranks(
    runs: list[tuple[Sequence[int], Sequence[int]]],
) -> tuple[float | None, float | None]:
    """Nearest-rank p50 and p90 of a histogram given as runs of (seconds, counts): the first
    second, in order, at which the running count reaches ceil(p·n/100). An argsort, a running
    sum and a bisection, all in C-speed builtins (a day holds ~1,000 seconds per version)."""
    if len(runs) == 1:  # one run is in order already (arrays are aggregated in order)
        seconds, counts = list(runs[0][0]), list(runs[0][1])
        order: Sequence[int] = range(len(seconds))
        running = list(accumulate(counts))
    else:
        seconds = list(chain.from_iterable(ss for ss, _ in runs))
        counts = list(chain.from_iterable(ns for _, ns in runs))
        order = sorted(range(len(seconds)), key=seconds.__getitem__)
        running = list(accumulate(map(counts.__getitem__, order)))
    if not running or running[-1] <= 0:
        return None, None
    total = running[-1]
    picks = [seconds[order[bisect_left(running, -(-p * total // 100))]] for p in PERCENTILES]
    return float(picks[0]), float(picks[1])


def _id(key: uuid.UUID | None) -> uuid.UUID | None:
    return None if key is None or key == NO_ID else key


def _bucket_parameters(window: Window) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """A bucket's width in seconds and the origin's Unix time, bound as 64-bit integers: asyncpg
    would otherwise bind them as 32-bit ones, which dates before 1902 or after 2038 overflow."""
    return (
        literal(int(window.width.total_seconds()), BigInteger),
        literal(int(window.origin.timestamp()), BigInteger),
    )


class AnalyticsRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id

    # --- raw conversations (the partial hours at the edges) -----------------------------------

    def _raw_bucket(self, window: Window) -> ColumnElement[Any]:
        """floor((happened - origin) / width), an integer, on both dialects."""
        seconds, epoch = _bucket_parameters(window)
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
        part: tuple[int, int, int],
    ) -> Select[Any]:
        """`statement` over one run of periods of one grain (a statement per run, so that each is
        one index range read in key order: an OR of runs becomes a bitmap scan and a sort)."""
        grain, low, high = part
        statement = statement.where(
            table.organization_id == self.organization_id,
            table.grain == grain,
            table.period >= low,
            table.period < high,
        )
        if window.agent_id is not None:
            statement = statement.where(table.agent_key == window.agent_id)
        if window.version_id is not None:
            statement = statement.where(table.version_key == window.version_id)
        return statement

    @staticmethod
    def _union(statements: list[Select[Any]]) -> Any:
        return statements[0] if len(statements) == 1 else union_all(*statements)

    @staticmethod
    def _rolled_bucket(
        table: type[ConversationRollup] | type[ConversationDurationRollup], window: Window
    ) -> ColumnElement[Any]:
        seconds, epoch = _bucket_parameters(window)
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
            keys = (bucket, table.version_key, table.status, table.channel, table.ended_reason)
            sums = [func.sum(getattr(table, name)) for name in SUMS]
            statement = self._union(
                [
                    self._rolled(select(*keys, *sums), table, window, part)
                    .group_by(*keys)
                    .having(func.sum(table.total) != 0)
                    for part in parts.rollups
                ]
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
        version. The database reads the histogram (index-only on PostgreSQL, one array of
        seconds and one of counts per period and version) and the edges' raw rows grouped by
        second; the ranks are found here, in C-speed list operations (`sorted`,
        `accumulate`, `bisect`), which is cheaper than sorting ~100k histogram rows in SQL
        for window functions."""
        parts = plan(window)
        seconds = int(window.width.total_seconds())
        epoch = int(window.origin.timestamp())
        runs: dict[tuple[int, uuid.UUID | None], list[tuple[Sequence[int], Sequence[int]]]] = {}
        overall: dict[int, list[tuple[Sequence[int], Sequence[int]]]] = {}

        def add(
            bucket: int, version: uuid.UUID | None, ss: Sequence[int], ns: Sequence[int]
        ) -> None:
            runs.setdefault((bucket, version), []).append((ss, ns))
            overall.setdefault(bucket, []).append((ss, ns))

        if parts.rollups:
            table = ConversationDurationRollup
            if dialect.is_postgres(self.session):
                in_order = (table.second,)
                columns: list[Any] = [
                    func.array_agg(aggregate_order_by(table.second, *in_order)),
                    func.array_agg(aggregate_order_by(table.n, *in_order)),
                ]
                grouped = True
            else:
                columns = [table.second, table.n]
                grouped = False
            statements = []
            for part in parts.rollups:
                statement = self._rolled(
                    select(table.grain, table.period, table.version_key, *columns),
                    table,
                    window,
                    part,
                ).where(table.n > 0)
                if grouped:
                    statement = statement.group_by(table.grain, table.period, table.version_key)
                statements.append(statement)
            statement = self._union(statements)
            for grain, period, version, ss, ns in (await self.session.execute(statement)).all():
                bucket = (int(period) * int(grain) * 3600 - epoch) // seconds
                if grouped:
                    add(bucket, _id(version), ss, ns)
                else:
                    add(bucket, _id(version), (int(ss),), (int(ns),))
        if parts.raw:
            bucket_column = self._raw_bucket(window)
            second = self._raw_second()
            statement = (
                self._raw(
                    select(bucket_column, Conversation.agent_version_id, second, func.count()),
                    window,
                    parts,
                )
                .where(Conversation.duration_seconds.is_not(None))
                .group_by(bucket_column, Conversation.agent_version_id, second)
            )
            for bucket, version, ss, ns in (await self.session.execute(statement)).all():
                add(int(bucket), version, (int(ss),), (int(ns),))
        per_bucket = {
            bucket: Quantiles(bucket, None, *_ranks(parts_)) for bucket, parts_ in overall.items()
        }
        per_version = {
            key: Quantiles(key[0], key[1], *_ranks(parts_)) for key, parts_ in runs.items()
        }
        return per_bucket, per_version

    async def version_numbers(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not ids:
            return {}
        statement = select(AgentVersion.id, AgentVersion.version).where(
            AgentVersion.organization_id == self.organization_id,
            AgentVersion.id.in_(list(ids)),
        )
        return {row[0]: row[1] for row in (await self.session.execute(statement)).all()}
