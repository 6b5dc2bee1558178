from __future__ import annotations

import uuid
from typing import Any

import orjson
from pydantic import Field, field_validator

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime, not_null
from callplane.phone_numbers.schemas import PhoneNumberRead
from callplane.widgets.schemas import WidgetRead

MAX_METADATA_BYTES = 16 * 1024


def _check_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= 200:
        raise ValueError("name must be 1-200 characters after trimming")
    return value


def _check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


class AgentCreate(RequestModel):
    name: str = Field(description="1-200 characters after trimming.", max_length=1000)
    description: str | None = Field(default=None, max_length=2000)
    active: bool = True
    is_demo: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object, ≤ 16 KiB.")

    _name = field_validator("name")(_check_name)
    _metadata = field_validator("metadata")(_check_metadata)


class AgentUpdate(RequestModel):
    """Partial update: fields left out stay as they are; `metadata` replaces the whole object."""

    name: str | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=2000)
    active: bool | None = None
    is_demo: bool | None = None
    metadata: dict[str, Any] | None = None

    _name = field_validator("name")(_check_name)
    _metadata = field_validator("metadata")(_check_metadata)

    _not_null = field_validator("name", "active", "is_demo", "metadata", mode="before")(not_null)


class AgentRead(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    active: bool
    is_demo: bool
    metadata: dict[str, Any]
    live_version: int | None = Field(description="The version calls and sessions use.")
    created_at: UTCDateTime
    updated_at: UTCDateTime
    etag: str


class VersionSummary(ResponseModel):
    id: uuid.UUID
    version: int
    published: bool
    published_at: UTCDateTime | None
    instructions_status: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class SipEndpoint(ResponseModel):
    enabled: bool
    sip_uri: str | None
    deployed_at: UTCDateTime | None


class ConversationStats(ResponseModel):
    total: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    by_channel: dict[str, int] = Field(default_factory=dict)
    average_duration_seconds: float | None = None
    total_duration_seconds: float = 0.0
    last_conversation_at: UTCDateTime | None = None


class AgentDetail(AgentRead):
    versions: list[VersionSummary] = Field(description="Summaries, newest first.")
    phone_numbers: list[PhoneNumberRead] = Field(
        description="Numbers whose inbound or outbound slot holds a version of this agent."
    )
    widgets: list[WidgetRead]
    sip_endpoint: SipEndpoint
    conversation_stats: ConversationStats
