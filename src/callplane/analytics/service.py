"""Conversation analytics: the database counts and ranks; this module lays the buckets out."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.analytics.errors import InvalidRange
from callplane.analytics.repository import AnalyticsRepository, Group, Quantiles, Window
from callplane.analytics.schemas import (
    DEFAULT_SPANS,
    MAX_BUCKETS,
    WIDTHS,
    Bucket,
    ConversationAnalytics,
    Interval,
    Metrics,
    VersionMetrics,
)
from callplane.db.types import utcnow

_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weeks start on Mondays (ISO 8601)
UNKNOWN = "unknown"


def align(moment: datetime, interval: Interval) -> datetime:
    """The start of the bucket holding `moment` (UTC hours, days, ISO weeks)."""
    width = WIDTHS[interval]
    return _EPOCH + width * ((moment - _EPOCH) // width)


def _add(metrics: Metrics, group: Group) -> None:
    metrics.total += group.total
    metrics.by_status[group.status] = metrics.by_status.get(group.status, 0) + group.total
    metrics.by_channel[group.channel] = metrics.by_channel.get(group.channel, 0) + group.total
    reason = group.ended_reason or UNKNOWN
    metrics.by_ended_reason[reason] = metrics.by_ended_reason.get(reason, 0) + group.total
    metrics.evaluated += group.evaluated
    metrics.successful += group.successful
    metrics.tool_calls += group.tool_calls
    durations = metrics.duration_seconds
    total = (durations.average or 0.0) * durations.counted + group.duration_sum
    durations.counted += group.timed
    durations.average = total / durations.counted if durations.counted else None


def _finish(metrics: Metrics, quantiles: Quantiles | None) -> None:
    metrics.success_rate = metrics.successful / metrics.evaluated if metrics.evaluated else None
    if quantiles is not None:
        metrics.duration_seconds.p50 = quantiles.p50
        metrics.duration_seconds.p90 = quantiles.p90


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
        buckets = [
            Bucket(start=origin + width * i, end=origin + width * (i + 1)) for i in range(count)
        ]
        versions: dict[tuple[int, uuid.UUID | None], VersionMetrics] = {}
        for group in groups:
            if not 0 <= group.bucket < count:
                continue  # cannot happen: rows are filtered to the range
            _add(buckets[group.bucket], group)
            key = (group.bucket, group.version_id)
            if key not in versions:
                versions[key] = VersionMetrics(
                    agent_version_id=group.version_id,
                    version=numbers.get(group.version_id) if group.version_id else None,
                )
            _add(versions[key], group)
        by_bucket: dict[int, list[VersionMetrics]] = defaultdict(list)
        for (index, _), metrics in sorted(
            versions.items(), key=lambda item: (item[0][0], item[1].version or 0)
        ):
            _finish(metrics, per_version.get((index, metrics.agent_version_id)))
            by_bucket[index].append(metrics)
        for index, bucket in enumerate(buckets):
            _finish(bucket, overall.get(index))
            bucket.versions = by_bucket.get(index, [])
        return ConversationAnalytics(
            agent_id=agent_id,
            version_id=version_id,
            interval=interval,
            from_=start,
            to=end,
            buckets=buckets,
        )
