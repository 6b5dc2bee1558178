from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field

from callplane.kit.schemas import ResponseModel, UTCDateTime

Interval = Literal["hour", "day", "week"]
WIDTHS: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
# What a range left open covers, per interval.
DEFAULT_SPANS: dict[str, timedelta] = {
    "hour": timedelta(hours=48),
    "day": timedelta(days=30),
    "week": timedelta(weeks=12),
}
MAX_BUCKETS = 1000


class Durations(ResponseModel):
    counted: int = Field(0, description="Conversations with a known duration.")
    average: float | None = None
    p50: float | None = Field(None, description="Median (nearest rank: a duration that occurred).")
    p90: float | None = Field(None, description="90th percentile (nearest rank).")


class Metrics(ResponseModel):
    total: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    by_channel: dict[str, int] = Field(default_factory=dict)
    by_ended_reason: dict[str, int] = Field(
        default_factory=dict, description="`unknown` counts conversations with no ended reason."
    )
    duration_seconds: Durations = Field(default_factory=Durations)
    evaluated: int = Field(0, description="Conversations with a success verdict.")
    successful: int = 0
    success_rate: float | None = Field(
        None, description="successful / evaluated; null when none was evaluated."
    )
    tool_calls: int = 0


class VersionMetrics(Metrics):
    agent_version_id: uuid.UUID | None
    version: int | None = Field(description="The version number, when the version still exists.")


class Bucket(Metrics):
    start: UTCDateTime
    end: UTCDateTime
    versions: list[VersionMetrics] = Field(
        default_factory=list, description="The same metrics per agent version (ones seen only)."
    )


class ConversationAnalytics(ResponseModel):
    agent_id: uuid.UUID | None
    version_id: uuid.UUID | None
    interval: Interval
    from_: UTCDateTime = Field(
        validation_alias=AliasChoices("from", "from_"), serialization_alias="from"
    )
    to: UTCDateTime
    buckets: list[Bucket]
