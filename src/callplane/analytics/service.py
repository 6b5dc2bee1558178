"""Conversation analytics: the database counts and ranks; this module lays the buckets out."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.analytics.errors import InvalidRange
from callplane.analytics.repository import AnalyticsRepository, Group, Quantiles, Window
from callplane.analytics.schemas import (
    DEFAULT_SPANS,
    MAX_BUCKETS,
    WIDTHS,
    ConversationAnalytics,
    Interval,
)
from callplane.db.types import utcnow

_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weeks start on Mondays (ISO 8601)
UNKNOWN = "unknown"


def align(moment: datetime, interval: Interval) -> datetime:
    """The start of the bucket holding `moment` (UTC hours, days, ISO weeks)."""
    width = WIDTHS[interval]
    return _EPOCH + width * ((moment - _EPOCH) // width)


@dataclass(slots=True)
class _Sums:
    """A bucket's (or a bucket's version's) running totals, in plain Python: a request adds
    hundreds of groups, and setting pydantic attributes that often cost more than the SQL."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    by_ended_reason: dict[str, int] = field(default_factory=dict)
    evaluated: int = 0
    successful: int = 0
    tool_calls: int = 0
    counted: int = 0
    duration_sum: float = 0.0


def _add(sums: _Sums, group: Group) -> None:
    sums.total += group.total
    sums.by_status[group.status] = sums.by_status.get(group.status, 0) + group.total
    sums.by_channel[group.channel] = sums.by_channel.get(group.channel, 0) + group.total
    reason = group.ended_reason or UNKNOWN
    sums.by_ended_reason[reason] = sums.by_ended_reason.get(reason, 0) + group.total
    sums.evaluated += group.evaluated
    sums.successful += group.successful
    sums.tool_calls += group.tool_calls
    sums.counted += group.timed
    sums.duration_sum += group.duration_sum


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    """A partial day is read as the whole day minus what the range leaves out of it: a status
    (channel, reason) seen only in that part adds up to 0 and is not reported."""
    return {key: n for key, n in counts.items() if n}


def _fields(sums: _Sums, quantiles: Quantiles | None) -> dict[str, Any]:
    return {
        "total": sums.total,
        "by_status": _nonzero(sums.by_status),
        "by_channel": _nonzero(sums.by_channel),
        "by_ended_reason": _nonzero(sums.by_ended_reason),
        "duration_seconds": {
            "counted": sums.counted,
            "average": sums.duration_sum / sums.counted if sums.counted else None,
            "p50": quantiles.p50 if quantiles else None,
            "p90": quantiles.p90 if quantiles else None,
        },
        "evaluated": sums.evaluated,
        "successful": sums.successful,
        "success_rate": sums.successful / sums.evaluated if sums.evaluated else None,
        "tool_calls": sums.tool_calls,
    }


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
    ) -> ConversationAnalytics:
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
        groups = await self.repository.groups(window)
        overall, per_version = await self.repository.quantiles(window)
        numbers = await self.repository.version_numbers(
            sorted({g.version_id for g in groups if g.version_id is not None})
        )
        totals = [_Sums() for _ in range(count)]
        versions: dict[tuple[int, uuid.UUID | None], _Sums] = {}
        for group in groups:
            if not 0 <= group.bucket < count:
                continue  # cannot happen: rows are filtered to the range
            _add(totals[group.bucket], group)
            key = (group.bucket, group.version_id)
            if key not in versions:
                versions[key] = _Sums()
            _add(versions[key], group)
        # Plain dicts, validated once at the end: one pydantic-core call for the whole answer
        # costs a fraction of a model's `__init__` per version and bucket (~1,200 a month).
        by_bucket: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for (index, version), sums in versions.items():
            if not sums.total:  # seen only in a part taken away (`_nonzero`)
                continue
            by_bucket[index].append(
                {
                    "agent_version_id": version,
                    "version": numbers.get(version) if version else None,
                    **_fields(sums, per_version.get((index, version))),
                }
            )
        buckets = [
            {
                "start": origin + width * index,
                "end": origin + width * (index + 1),
                "versions": sorted(by_bucket.get(index, []), key=lambda v: v["version"] or 0),
                **_fields(sums, overall.get(index)),
            }
            for index, sums in enumerate(totals)
        ]
        return ConversationAnalytics.model_validate(
            {
                "agent_id": agent_id,
                "version_id": version_id,
                "interval": interval,
                "from_": start,
                "to": end,
                "buckets": buckets,
            }
        )
