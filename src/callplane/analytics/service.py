"""Conversation analytics: the database counts and ranks; this module lays the buckets out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.analytics.errors import InvalidRange
from callplane.analytics.repository import AnalyticsRepository, Group, Quantiles, Window
from callplane.analytics.schemas import DEFAULT_SPANS, MAX_BUCKETS, WIDTHS, Interval
from callplane.db.types import utcnow

_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weeks start on Mondays (ISO 8601)
UNKNOWN = "unknown"
# Timestamps as `UTCDateTime` writes them: ISO-8601 in UTC with a `Z`.
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def align(moment: datetime, interval: Interval) -> datetime:
    """The start of the bucket holding `moment` (UTC hours, days, ISO weeks)."""
    width = WIDTHS[interval]
    return _EPOCH + width * ((moment - _EPOCH) // width)


@dataclass(slots=True)
class _Sums:
    """A bucket's (or a bucket's version's) running totals, in plain Python: a request adds
    thousands of groups (an organization's month: ~3,000 rows into ~1,200 versions)."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    by_ended_reason: dict[str, int] = field(default_factory=dict)
    evaluated: int = 0
    successful: int = 0
    tool_calls: int = 0
    counted: int = 0
    duration_sum: float = 0.0

    def add(self, other: _Sums) -> None:
        """Adds a version's totals into its bucket's."""
        self.total += other.total
        self.evaluated += other.evaluated
        self.successful += other.successful
        self.tool_calls += other.tool_calls
        self.counted += other.counted
        self.duration_sum += other.duration_sum
        for mine, theirs in (
            (self.by_status, other.by_status),
            (self.by_channel, other.by_channel),
            (self.by_ended_reason, other.by_ended_reason),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    def metrics(self, quantiles: Quantiles | None) -> dict[str, Any]:
        """`Metrics` as a dict in the model's field order (the answer's JSON is encoded from it).
        A partial day is read as the whole day minus what the range leaves out of it: a status
        (channel, reason) seen only in that part adds up to 0 and is not reported."""
        counted, evaluated = self.counted, self.evaluated
        return {
            "total": self.total,
            "by_status": {key: n for key, n in self.by_status.items() if n},
            "by_channel": {key: n for key, n in self.by_channel.items() if n},
            "by_ended_reason": {key: n for key, n in self.by_ended_reason.items() if n},
            "duration_seconds": {
                "counted": counted,
                "average": self.duration_sum / counted if counted else None,
                "p50": quantiles.p50 if quantiles else None,
                "p90": quantiles.p90 if quantiles else None,
            },
            "evaluated": evaluated,
            "successful": self.successful,
            "success_rate": self.successful / evaluated if evaluated else None,
            "tool_calls": self.tool_calls,
        }


Versions = dict[tuple[int, uuid.UUID | None], "_Sums"]


def _per_version(groups: list[Group], count: int) -> tuple[Versions, dict[uuid.UUID | None, int]]:
    """Each (bucket, version)'s totals — the groups' rows added where they belong (a key may
    come from several parts of the plan: rollups, raw edges, a part taken away) — and the
    versions' numbers."""
    sums: Versions = {}
    numbers: dict[uuid.UUID | None, int] = {}
    for group in groups:
        bucket, version, status, channel, reason, n = group[:6]
        if not 0 <= bucket < count:
            continue  # cannot happen: rows are filtered to the range
        entry = sums.get((bucket, version))
        if entry is None:
            entry = sums[bucket, version] = _Sums()
            if group.version is not None:
                numbers[version] = group.version
        entry.total += n
        entry.by_status[status] = entry.by_status.get(status, 0) + n
        entry.by_channel[channel] = entry.by_channel.get(channel, 0) + n
        reason = reason or UNKNOWN
        entry.by_ended_reason[reason] = entry.by_ended_reason.get(reason, 0) + n
        entry.evaluated += group.evaluated
        entry.successful += group.successful
        entry.tool_calls += group.tool_calls
        entry.counted += group.timed
        entry.duration_sum += group.duration_sum
    return sums, numbers


class AnalyticsService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.repository = AnalyticsRepository(session, organization_id)

    async def conversations(
        self,
        *,
        agent_id: uuid.UUID | None,
        version_id: uuid.UUID | None,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
    ) -> bytes:
        """The answer (`ConversationAnalytics`) as JSON, encoded once by orjson from plain
        dicts: validating ~1,200 version entries into the models, then FastAPI validating and
        serializing them again, cost about what the SQL of an organization's month costs
        (issue 12). A test holds the bytes equal to the models' own JSON."""
        width = WIDTHS[interval]
        end = end or utcnow()
        start = start or end - DEFAULT_SPANS[interval]
        if start >= end:
            raise InvalidRange("`from` must be before `to`.")
        origin = align(start, interval)
        count = -(-(end - origin) // width)  # ceil
        if count > MAX_BUCKETS:
            raise InvalidRange(
                f"The range holds {count} {interval} buckets; at most {MAX_BUCKETS} are allowed."
            )
        window = Window(self.organization_id, agent_id, version_id, origin, start, end, width)
        (per_version, numbers), (overall, ranks) = await self.repository.read(
            window, lambda groups: _per_version(groups, count)
        )
        totals = [_Sums() for _ in range(count)]
        versions: list[list[dict[str, Any]]] = [[] for _ in range(count)]
        for (index, version), sums in per_version.items():
            if not sums.total:  # seen only in a part taken away (`_Sums.metrics`)
                continue
            totals[index].add(sums)
            versions[index].append(
                {
                    **sums.metrics(ranks.get((index, version))),
                    # asyncpg's UUIDs are a subclass orjson does not take
                    "agent_version_id": None if version is None else str(version),
                    "version": numbers.get(version),
                }
            )
        document = {
            "agent_id": None if agent_id is None else str(agent_id),
            "version_id": None if version_id is None else str(version_id),
            "interval": interval,
            "from": start,
            "to": end,
            "buckets": [
                {
                    **sums.metrics(overall.get(index)),
                    "start": origin + width * index,
                    "end": origin + width * (index + 1),
                    "versions": sorted(versions[index], key=lambda v: v["version"] or 0),
                }
                for index, sums in enumerate(totals)
            ],
        }
        return orjson.dumps(document, option=_JSON_OPTIONS)
