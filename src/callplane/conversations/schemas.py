from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime
from callplane.versions.schemas import MAX_VERSION

Channel = Literal["telephone", "webrtc", "sms", "email", "text"]
Direction = Literal["inbound", "outbound"]
Status = Literal["in_progress", "completed", "failed", "missed", "abandoned"]
# Why a conversation ended (CONTRACTS.md §3, the live conversations' vocabulary).
EndedReason = Literal[
    "ended_by_user",
    "hangup",
    "cold_transfer",
    "warm_transfer",
    "end_phrase",
    "idle_timeout",
    "max_duration",
    "error",
]


def _in_utc(value: datetime | None) -> datetime | None:
    """Naive means UTC; a time that cannot be expressed in UTC is a validation error, not a 500."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


class TranscriptTurn(RequestModel):
    role: Literal["agent", "user", "system", "tool"]
    content: str = Field(max_length=20_000)
    at: UTCDateTime | None = None

    _at = field_validator("at")(_in_utc)


class ConversationImport(RequestModel):
    agent_id: uuid.UUID | None = None
    agent_version_id: uuid.UUID | None = Field(
        default=None, description="A version of `agent_id` (requires `agent_id`)."
    )
    channel: Channel
    direction: Direction | None = None
    status: Status
    duration_seconds: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    turns: int | None = Field(default=None, ge=0, le=100_000)
    started_at: UTCDateTime | None = None
    ended_at: UTCDateTime | None = None
    transcript: list[TranscriptTurn] | None = Field(default=None, max_length=2000)
    summary: str | None = Field(default=None, max_length=20_000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    ended_reason: EndedReason | None = Field(default=None, description="Why it ended.")
    successful: bool | None = Field(
        default=None,
        description="A success verdict the records already carry (kept by the analysis).",
    )

    _times = field_validator("started_at", "ended_at")(_in_utc)

    @model_validator(mode="after")
    def _consistent(self) -> ConversationImport:
        if self.agent_version_id is not None and self.agent_id is None:
            raise ValueError("agent_version_id requires agent_id")
        if self.started_at and self.ended_at and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class ConversationImportRequest(RequestModel):
    conversations: list[ConversationImport] = Field(min_length=1, max_length=500)


class ConversationImportResult(ResponseModel):
    imported: int
    ids: list[uuid.UUID]


class ConversationRead(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID | None
    agent_version_id: uuid.UUID | None
    channel: str
    direction: str | None
    status: str
    duration_seconds: float | None
    turns: int | None
    started_at: UTCDateTime | None
    ended_at: UTCDateTime | None
    created_at: UTCDateTime
    updated_at: UTCDateTime
    ended_reason: str | None = None
    tool_call_count: int | None = Field(
        default=None, description="Tool calls made (from the transcript; null until analyzed)."
    )
    successful: bool | None = Field(
        default=None, description="The success verdict of the analysis (null: none)."
    )
    analysis_status: str | None = Field(
        default=None,
        description="`analyzed` (everything asked for was filled), `partial` (some parts are "
        "`not_analyzed`, e.g. without an LLM), `failed`; null until the analysis ran.",
    )
    expires_at: UTCDateTime | None = None
    sensitive_included: bool = Field(
        description="Whether transcript, summary and metadata are shown "
        "(they need conversations:read_sensitive)."
    )
    transcript: list[dict[str, Any]] | None = None
    summary: str | None = None
    metadata: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = Field(
        default=None,
        description="The post-conversation analysis (summary, success reason, extracted fields, "
        "computed metrics); sensitive like the transcript.",
    )


# --- live conversations -------------------------------------------------------------------------

VariableName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")]


class LiveConversationStart(RequestModel):
    version: Literal["live", "latest"] | Annotated[int, Field(ge=1, le=MAX_VERSION)] = Field(
        default="live",
        description="`live` (the published version), `latest` (the newest version, drafts "
        "included) or a version number.",
    )
    channel: Channel = Field(
        default="text", description="Selects the config's `channel_overrides` entry."
    )
    variables: dict[VariableName, Annotated[str, Field(max_length=4000)]] = Field(
        default_factory=dict,
        max_length=100,
        description="Values of `{{name}}` placeholders in instructions, starting message and "
        "tool actions.",
    )
    direction: Direction | None = None
    caller: str | None = Field(
        default=None,
        max_length=64,
        description="The caller's phone number or address (`{{caller.phone_number}}`).",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class LiveConversationRead(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    version: int
    channel: str
    status: str
    model: str = Field(description='The model that answers; `"offline"` without one.')
    starting_message: str | None
    created_at: UTCDateTime
    expires_at: UTCDateTime | None


class MessageCreate(RequestModel):
    content: str = Field(min_length=1, description="The user's message.")


class TurnEvent(ResponseModel):
    event: str
    data: dict[str, Any]


class TurnRead(ResponseModel):
    """A whole turn, for `Accept: application/json`: the events the stream would have sent."""

    message: dict[str, Any]
    events: list[TurnEvent]
    ended: bool
    ended_reason: str | None
    usage: dict[str, int]
    model: str
