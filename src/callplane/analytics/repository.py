"""The analytics SQL: time buckets, counts and duration percentiles, computed by the database.

Most of a range is read from the rollups the `conversations` triggers keep (migration
`rollups`, ADR 0021): `conversation_rollups` (counts and sums) and
`conversation_duration_rollups` (conversations per whole second of duration), per UTC hour and
per UTC day. A range is cut into
- whole days (day and week buckets only) → the daily rollups,
- whole hours around them → the hourly rollups,
- the partial hours at its two edges → the raw conversations (by the analytics indexes);
or, for an edge in the larger part of its day, that whole day minus the hours (hourly
rollups) and minutes (raw rows) the range leaves out of it (`plan`).
Bucket boundaries fall on whole hours (and, for day and week buckets, on whole days), so every
hour or day read lies in one bucket. A conversation happened at `coalesce(started_at,
created_at)`; a bucket's number is `floor((happened - origin) / width)`.

Durations' p50/p90 are nearest-rank (the value at rank ceil(p·n/100)) over the durations
rounded down to the whole second (`floor(duration_seconds)`): exact at that resolution, the
same on both dialects, found from the running counts of the histogram's runs (`_ranks`).
"""

from __future__ import annotations

import asyncio
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, repeat
from operator import getitem
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.types import NullType

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
# The two statements' connections on PostgreSQL: one snapshot, nothing written.
_SNAPSHOT_READ = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
Folded = TypeVar("Folded")


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
    """Where each part of a window is read from: added, and taken away (a partial day read as
    the whole day minus the part of it the range leaves out)."""

    raw: list[tuple[datetime, datetime]]  # [from, to) read from `conversations`
    rollups: list[tuple[int, int, int]]  # (grain, first period, period after the last)
    minus_raw: list[tuple[datetime, datetime]] = field(default_factory=list)
    minus_rollups: list[tuple[int, int, int]] = field(default_factory=list)

    def signed(
        self,
    ) -> list[tuple[int, list[tuple[int, int, int]], list[tuple[datetime, datetime]]]]:
        return [(1, self.rollups, self.raw), (-1, self.minus_rollups, self.minus_raw)]


def _floor(moment: datetime, unit: timedelta) -> int:
    return (moment - _EPOCH) // unit


def _ceil(moment: datetime, unit: timedelta) -> int:
    return -((_EPOCH - moment) // unit)


def plan(window: Window) -> Plan:
    """Whole days (day and week buckets) from the daily rollups, whole hours from the hourly
    ones, partial hours from raw rows. A range starting (ending) in the first (last) half of a
    day — the mid-hour dashboard case — reads that whole day and takes away what precedes
    (follows) the range in it: a few raw minutes and hours instead of up to 23 hourly periods
    (each holding about as many histogram cells as a day's)."""
    start, end = window.start, window.end
    first_hour, end_hour = _ceil(start, _HOUR), _floor(end, _HOUR)
    if first_hour >= end_hour:
        return Plan([(start, end)], [])
    if window.width % _DAY == timedelta(0):  # day and week buckets are made of whole days
        start_day, end_day_ceil = _floor(start, _DAY), _ceil(end, _DAY)
        first_day, end_day = -(-first_hour // 24), end_hour // 24
        apart = start_day < end_day_ceil - 1  # the edges lie in different days
        cut_start = apart and start_day < first_day and start - _EPOCH - start_day * _DAY < _DAY / 2
        cut_end = apart and end_day < end_day_ceil and _EPOCH + end_day_ceil * _DAY - end < _DAY / 2
        low_day = start_day if cut_start else first_day
        high_day = end_day_ceil if cut_end else end_day
        if low_day < high_day:
            parts = Plan([], [(DAY, low_day, high_day)])
            if cut_start:
                hour = _floor(start, _HOUR)
                if start_day * 24 < hour:
                    parts.minus_rollups.append((HOUR, start_day * 24, hour))
                if _EPOCH + hour * _HOUR < start:
                    parts.minus_raw.append((_EPOCH + hour * _HOUR, start))
            else:
                if first_hour < first_day * 24:
                    parts.rollups.insert(0, (HOUR, first_hour, first_day * 24))
                if _EPOCH + first_hour * _HOUR > start:
                    parts.raw.append((start, _EPOCH + first_hour * _HOUR))
            if cut_end:
                hour = _ceil(end, _HOUR)
                if hour < end_day_ceil * 24:
                    parts.minus_rollups.append((HOUR, hour, end_day_ceil * 24))
                if _EPOCH + hour * _HOUR > end:
                    parts.minus_raw.append((end, _EPOCH + hour * _HOUR))
            else:
                if end_day * 24 < end_hour:
                    parts.rollups.append((HOUR, end_day * 24, end_hour))
                if _EPOCH + end_hour * _HOUR < end:
                    parts.raw.append((_EPOCH + end_hour * _HOUR, end))
            return parts
    raw = []
    if _EPOCH + first_hour * _HOUR > start:
        raw.append((start, _EPOCH + first_hour * _HOUR))
    if _EPOCH + end_hour * _HOUR < end:
        raw.append((_EPOCH + end_hour * _HOUR, end))
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
    ended_reason: str | None  # "" or None for none
    total: int
    evaluated: int
    successful: int
    tool_calls: int
    timed: int
    duration_sum: float
    version: int | None  # the version's number, when it still exists


_GROUP_KEYS = ("bucket", "version_id", "status", "channel", "ended_reason")


class Quantiles(NamedTuple):
    p50: float | None
    p90: float | None


# p50 and p90 per bucket, and per bucket and version.
Ranked = tuple[dict[int, Quantiles], dict[tuple[int, uuid.UUID | None], Quantiles]]


# A run of a histogram: seconds in ascending order and, at index i, the count of conversations
# that lasted less than seconds[i] (so it starts at 0 and ends with the run's total): one period's
# cells of one version, or an edge's raw rows grouped by second.
Run = tuple[list[int], list[int]]


def _run(seconds: list[int], counts: list[int]) -> Run:
    """A run as read: in order when it came from an ordered index scan (PostgreSQL), in any
    order otherwise (SQLite, the raw edges, another plan). Sorting an ordered list of small
    ints is one pass; only an unordered run is argsorted."""
    if seconds != sorted(seconds):
        order = sorted(range(len(seconds)), key=seconds.__getitem__)
        seconds = [seconds[i] for i in order]
        counts = [counts[i] for i in order]
    return seconds, list(accumulate(counts, initial=0))


def _ranks(runs: list[Run]) -> Quantiles:
    """Nearest-rank p50 and p90 of a histogram made of runs: the first second at which the
    count of conversations up to it reaches ceil(p·n/100). One run: a bisection of its running
    count. Several (a bucket's versions, periods, edges): a bisection over the seconds, each
    step counting through every run by a bisection (`map`s: no Python frame per run) — no
    merge, no sort, no per-cell work (a day of an organization's 40 versions holds ~2,500
    cells, merged 30 times a request)."""
    if len(runs) == 1:
        seconds, running = runs[0]
        total = running[-1]
        if total <= 0:
            return Quantiles(None, None)
        return Quantiles(
            float(seconds[bisect_left(running, -(-PERCENTILES[0] * total // 100)) - 1]),
            float(seconds[bisect_left(running, -(-PERCENTILES[1] * total // 100)) - 1]),
        )
    all_seconds = [seconds for seconds, _ in runs]
    all_running = [running for _, running in runs]
    total = sum(running[-1] for running in all_running)
    if total <= 0:
        return Quantiles(None, None)
    low = min(seconds[0] for seconds in all_seconds)
    high = max(seconds[-1] for seconds in all_seconds)  # every conversation lasted ≤ high
    picks = []
    for p in PERCENTILES:  # ascending: each pick bounds the next from below
        target = -(-p * total // 100)
        top = high
        while low < top:
            middle = (low + top) // 2
            if (
                sum(map(getitem, all_running, map(bisect_right, all_seconds, repeat(middle))))
                >= target
            ):
                top = middle
            else:
                low = middle + 1
        picks.append(float(low))
    return Quantiles(picks[0], picks[1])


def _version(
    table: type[ConversationRollup] | type[ConversationDurationRollup],
) -> ColumnElement[uuid.UUID | None]:
    """A rollup's version key as the conversations have it: NULL for none (the key holds the
    nil UUID), so that no row needs converting here."""
    return func.nullif(table.version_key, literal(NO_ID, Uuid), type_=Uuid)


def _signed(value: Any, sign: int) -> Any:
    """A sum as read (+1), or negated for a part taken away (-1)."""
    return value if sign > 0 else -value


def _labelled(
    columns: Sequence[Any], names: Sequence[str] = _GROUP_KEYS
) -> list[ColumnElement[Any]]:
    """Columns named as `Group`'s fields: a union's columns are named by its first statement's,
    and the service reads them by position as a `Group`."""
    return [column.label(name) for column, name in zip(columns, names, strict=True)]


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

    @staticmethod
    async def _all(connection: AsyncConnection, statement: Any) -> Sequence[Any]:
        """Rows of a Core statement: the ORM's result layer would process each of the thousands
        of rows again in Python."""
        return (await connection.execute(statement)).all()

    async def read(
        self, window: Window, fold: Callable[[list[Group]], Folded]
    ) -> tuple[Folded, Ranked]:
        """The counts, folded by `fold` (the service's adding up), and the quantiles. On
        PostgreSQL the two statements run at once on two connections that read one snapshot
        (the first exports it, the second imports it: both `REPEATABLE READ READ ONLY`), so
        that the counts' reading and folding in Python overlap the histogram's time in the
        database (issue 12); a write committed meanwhile is seen by neither. The connections
        are the engine's, not the session's: a snapshot is exported by a `REPEATABLE READ`
        transaction before its first query, and the session's is `READ COMMITTED` and may have
        run some. SQLite (one writer, reads on threads) and a session bound to a connection
        run them one after the other on the session's connection; so does a window of one
        agent or version (its counts are a few rows: the second connection cost ~1 ms more
        than it saved)."""
        engine = self.session.bind
        whole_organization = window.agent_id is None and window.version_id is None
        if not (
            whole_organization
            and dialect.is_postgres(self.session)
            and isinstance(engine, AsyncEngine)
        ):
            connection = await self.session.connection()
            folded = fold(await self.groups(window, connection))
            return folded, await self.quantiles(window, connection)
        async with engine.connect() as first:
            await first.execution_options(**_SNAPSHOT_READ)
            snapshot = (await first.exec_driver_sql("SELECT pg_export_snapshot()")).scalar_one()
            histogram = asyncio.create_task(self.quantiles(window, first))
            try:
                async with engine.connect() as second:
                    await second.execution_options(**_SNAPSHOT_READ)
                    await second.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                    folded = fold(await self.groups(window, second))
                return folded, await histogram
            finally:
                # On an error or a cancellation, the histogram's statement is cancelled and
                # waited for before its connection goes back to the pool; its own error, if
                # any, is retrieved (the first one raised is the one reported).
                histogram.cancel()
                await asyncio.wait([histogram])
                if not histogram.cancelled():
                    histogram.exception()

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

    def _raw(
        self, statement: Select[Any], window: Window, spans: list[tuple[datetime, datetime]]
    ) -> Select[Any]:
        ranges = [and_(low <= HAPPENED_AT, high > HAPPENED_AT) for low, high in spans]
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

    async def groups(self, window: Window, connection: AsyncConnection) -> list[Group]:
        """Counts per (bucket, version, status, channel, ended reason): the rollups' rows and the
        edges' raw rows in one statement, a few hundred rows per bucket at most, rolled up by the
        service, each with its version's number (one statement less). The sums are cast back
        to their columns' types (PostgreSQL sums a `bigint` into a `numeric`), so rows need no
        conversion here."""
        statements: list[Select[Any]] = []
        table = ConversationRollup
        keys = (
            self._rolled_bucket(table, window),
            _version(table),
            table.status,
            table.channel,
            table.ended_reason,
        )
        raw_keys = (
            self._raw_bucket(window),
            Conversation.agent_version_id,
            Conversation.status,
            Conversation.channel,
            Conversation.ended_reason,
        )
        for sign, rollups, spans in plan(window).signed():
            sums = [
                cast(_signed(func.sum(column), sign), column.type)
                for column in (getattr(table, name) for name in SUMS)
            ]
            statements += [
                self._rolled(select(*_labelled(keys), *_labelled(sums, SUMS)), table, window, part)
                .group_by(*keys)
                .having(func.sum(table.total) != 0)
                for part in rollups
            ]
            if spans:
                raw_sums = (
                    (func.count(), Integer),
                    (func.count(Conversation.successful), Integer),
                    (func.sum(case((Conversation.successful.is_(True), 1), else_=0)), Integer),
                    (func.sum(Conversation.tool_call_count), BigInteger),
                    (func.count(Conversation.duration_seconds), Integer),
                    (func.sum(Conversation.duration_seconds), Float),
                )
                statements.append(
                    self._raw(
                        select(
                            *_labelled(raw_keys),
                            *_labelled(
                                [
                                    cast(_signed(func.coalesce(value, 0), sign), type_)
                                    for value, type_ in raw_sums
                                ],
                                SUMS,
                            ),
                        ),
                        window,
                        spans,
                    ).group_by(*raw_keys)
                )
        counts = self._union(statements).subquery("counts")
        statement = select(counts, AgentVersion.version).outerjoin(
            AgentVersion,
            and_(
                AgentVersion.id == counts.c.version_id,
                AgentVersion.organization_id == self.organization_id,
            ),
        )
        return list(map(Group._make, await self._all(connection, statement)))

    def _aggregate(self, column: Any) -> ColumnElement[Any]:
        """A group's values as one, in the order they are read (no sort: `_run` checks it): an
        array (PostgreSQL; untyped, as asyncpg returns a list of ints that SQLAlchemy's ARRAY
        would walk again), a comma-separated list (SQLite)."""
        if dialect.is_postgres(self.session):
            return func.array_agg(column, type_=NullType())
        return func.group_concat(column)

    def _histograms(self, window: Window, parts: Plan) -> Any:
        """(bucket, version, seconds, counts) of the histogram: the rollups' runs per (period,
        version) and the edges' raw rows grouped by second, then by (bucket, version). On
        PostgreSQL the rollups are read index-only in (period, version, second) order (the
        primary key for one agent, `ix_conversation_duration_rollups_period` for an
        organization) and grouped as they come, so the arrays arrive sorted without a sort
        (ordered aggregates sort every group: ~30% more for an organization's month)."""
        table = ConversationDurationRollup
        statements: list[Any] = []
        for sign, rollups, spans in parts.signed():
            statements += [
                self._rolled(
                    select(
                        self._rolled_bucket(table, window),
                        _version(table),
                        self._aggregate(table.second),
                        self._aggregate(_signed(table.n, sign)),
                    ),
                    table,
                    window,
                    part,
                )
                .where(table.n > 0)
                .group_by(table.grain, table.period, table.version_key)
                for part in rollups
            ]
            if spans:
                bucket = self._raw_bucket(window)
                second = self._raw_second()
                raw = (
                    self._raw(
                        select(
                            bucket.label("bucket"),
                            Conversation.agent_version_id.label("version"),
                            second.label("second"),
                            _signed(func.count(), sign).label("n"),
                        ),
                        window,
                        spans,
                    )
                    .where(Conversation.duration_seconds.is_not(None))
                    .group_by(bucket, Conversation.agent_version_id, second)
                    .subquery()
                )
                statements.append(
                    select(
                        raw.c.bucket,
                        raw.c.version,
                        self._aggregate(raw.c.second),
                        self._aggregate(raw.c.n),
                    ).group_by(raw.c.bucket, raw.c.version)
                )
        return self._union(statements)

    async def quantiles(self, window: Window, connection: AsyncConnection) -> Ranked:
        """p50 and p90 of the known durations (whole seconds) per bucket, and per bucket and
        version. One statement: the database reads the histogram (index-only on PostgreSQL)
        and the edges' raw rows as ordered runs; the ranks are found here from the runs'
        running counts (`_ranks`), without merging them."""
        statement = self._histograms(window, plan(window))
        per_version: dict[tuple[int, uuid.UUID | None], list[Run]] = {}
        per_bucket: dict[int, list[Run]] = {}
        for bucket, version, seconds, counts in await self._all(connection, statement):
            if isinstance(seconds, str):  # SQLite
                seconds = list(map(int, seconds.split(",")))
                counts = list(map(int, counts.split(",")))
            run = _run(seconds, counts)
            per_version.setdefault((int(bucket), version), []).append(run)
            per_bucket.setdefault(int(bucket), []).append(run)
        return (
            {bucket: _ranks(runs) for bucket, runs in per_bucket.items()},
            {key: _ranks(runs) for key, runs in per_version.items()},
        )
