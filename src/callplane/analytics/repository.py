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

import operator
import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate, chain, repeat
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
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


class Group(NamedTuple):
    """One row of the counts: a bucket, a version and one status/channel/reason combination
    (the same key may come once from the rollups and once from the raw rows: they add up).
    A named tuple: a request reads thousands, and a frozen dataclass's `__init__` cost more
    than the SQL."""

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


class Quantiles(NamedTuple):
    p50: float | None
    p90: float | None


# A histogram cell (a whole second and how many conversations lasted it) travels from the
# database and is sorted here as ONE integer, `second · 2³² + count`: one array per (bucket,
# version) instead of two, and plain-int sorts instead of an argsort with a key. Integers order
# by second first because a count is below 2³² (an `integer` column, a count of raw rows); a
# second is clamped to ±2³¹ so that the product stays a 64-bit integer (2³¹ s is 68 years).
_SHIFT = 32
_COUNT = (1 << _SHIFT) - 1
_SECOND_LIMIT = (1 << 31) - 1


def _ranks(cells: list[int]) -> Quantiles:
    """Nearest-rank p50 and p90 of a histogram given as packed cells sorted by second: the
    first second at which the running count reaches ceil(p·n/100). A running sum and a
    bisection, in C-speed builtins."""
    running = list(accumulate(map(operator.and_, cells, repeat(_COUNT))))
    if not running or running[-1] <= 0:
        return Quantiles(None, None)
    total = running[-1]
    p50, p90 = (
        float(cells[bisect_left(running, -(-p * total // 100))] >> _SHIFT) for p in PERCENTILES
    )
    return Quantiles(p50, p90)


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
        edges' raw rows in one statement, a few hundred rows per bucket at most, rolled up by the
        service. The sums are cast back to their columns' types (PostgreSQL sums a `bigint`
        into a `numeric`), so rows need no conversion here."""
        parts = plan(window)
        statements: list[Select[Any]] = []
        table = ConversationRollup
        bucket = self._rolled_bucket(table, window)
        keys = (bucket, table.version_key, table.status, table.channel, table.ended_reason)
        sums = [
            cast(func.sum(column), column.type)
            for column in (getattr(table, name) for name in SUMS)
        ]
        statements += [
            self._rolled(select(*keys, *sums), table, window, part)
            .group_by(*keys)
            .having(func.sum(table.total) != 0)
            for part in parts.rollups
        ]
        if parts.raw:
            raw_keys = (
                self._raw_bucket(window),
                Conversation.agent_version_id,
                Conversation.status,
                Conversation.channel,
                Conversation.ended_reason,
            )
            statements.append(
                self._raw(
                    select(
                        *raw_keys,
                        cast(func.count(), Integer),
                        cast(func.count(Conversation.successful), Integer),
                        cast(
                            func.coalesce(
                                func.sum(case((Conversation.successful.is_(True), 1), else_=0)),
                                0,
                            ),
                            Integer,
                        ),
                        cast(func.coalesce(func.sum(Conversation.tool_call_count), 0), BigInteger),
                        cast(func.count(Conversation.duration_seconds), Integer),
                        func.coalesce(func.sum(Conversation.duration_seconds), 0.0),
                    ),
                    window,
                    parts,
                ).group_by(*raw_keys)
            )
        rows = (await self.session.execute(self._union(statements))).all()
        return [
            Group(int(b), _id(v), st, ch, r or None, n, e, ok, tools, timed, float(d))
            for b, v, st, ch, r, n, e, ok, tools, timed, d in rows
        ]

    def _cells(self, window: Window, parts: Plan) -> list[Select[Any]]:
        """(bucket, version, packed cell) of the histogram: the rollups' cells and the edges'
        raw rows grouped by second (the same second may come from several periods: ranking
        needs no merge, only order)."""
        table = ConversationDurationRollup
        statements = [
            self._rolled(
                select(
                    self._rolled_bucket(table, window).label("bucket"),
                    table.version_key.label("version"),
                    self._pack(table.second, table.n).label("cell"),
                ),
                table,
                window,
                part,
            ).where(table.n > 0)
            for part in parts.rollups
        ]
        if parts.raw:
            bucket = self._raw_bucket(window)
            second = self._raw_second()
            statements.append(
                self._raw(
                    select(bucket, Conversation.agent_version_id, self._pack(second, func.count())),
                    window,
                    parts,
                )
                .where(Conversation.duration_seconds.is_not(None))
                .group_by(bucket, Conversation.agent_version_id, second)
            )
        return statements

    def _pack(self, second: Any, count: Any) -> ColumnElement[Any]:
        limit = literal(_SECOND_LIMIT, BigInteger)
        clamped: ColumnElement[Any]
        if dialect.is_postgres(self.session):
            clamped = func.least(func.greatest(second, -limit), limit)
        else:  # SQLite's two-argument min/max are scalar
            clamped = func.min(func.max(second, -limit), limit)
        packed: ColumnElement[Any] = clamped * literal(1 << _SHIFT, BigInteger) + count
        return packed

    async def quantiles(
        self, window: Window
    ) -> tuple[dict[int, Quantiles], dict[tuple[int, uuid.UUID | None], Quantiles]]:
        """p50 and p90 of the known durations (whole seconds) per bucket, and per bucket and
        version. One statement: the database reads the histogram (index-only on PostgreSQL)
        and the edges' raw rows, and aggregates one unordered array of packed cells per
        (bucket, version) (`group_concat` on SQLite); each is sorted here (plain ints, C
        speed), a bucket's versions merged by one more sort (timsort merges the sorted runs),
        and the ranks found by a running sum and a bisection."""
        parts = plan(window)
        cells = union_all(*self._cells(window, parts)).subquery()
        if dialect.is_postgres(self.session):
            aggregated: ColumnElement[Any] = func.array_agg(cells.c.cell)
        else:
            aggregated = func.group_concat(cells.c.cell)
        statement = select(cells.c.bucket, cells.c.version, aggregated).group_by(
            cells.c.bucket, cells.c.version
        )
        per_version: dict[tuple[int, uuid.UUID | None], list[int]] = {}
        for bucket, version, packed in (await self.session.execute(statement)).all():
            if isinstance(packed, str):
                packed = list(map(int, packed.split(",")))
            key = (int(bucket), _id(version))
            if key in per_version:  # no version: NULL on raw rows, the nil UUID in rollups
                per_version[key] += packed
            else:
                per_version[key] = packed
        by_bucket: dict[int, list[list[int]]] = {}
        for (bucket, _), histogram in per_version.items():
            histogram.sort()
            by_bucket.setdefault(bucket, []).append(histogram)
        ranked = {key: _ranks(histogram) for key, histogram in per_version.items()}
        overall = {}
        for bucket, histograms in by_bucket.items():
            if len(histograms) == 1:
                overall[bucket] = _ranks(histograms[0])
            else:
                merged = list(chain.from_iterable(histograms))
                merged.sort()
                overall[bucket] = _ranks(merged)
        return overall, ranked

    async def version_numbers(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not ids:
            return {}
        statement = select(AgentVersion.id, AgentVersion.version).where(
            AgentVersion.organization_id == self.organization_id,
            AgentVersion.id.in_(list(ids)),
        )
        return {row[0]: row[1] for row in (await self.session.execute(statement)).all()}
