from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType, UTCDateTime
from callplane.models.base import Base, IdMixin, TimestampsMixin


class Conversation(IdMixin, TimestampsMixin, Base):
    """A conversation record. Agent ids are kept without a foreign key: history outlives agents."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_org_created", "organization_id", "created_at", "id"),
        Index("ix_conversations_agent", "agent_id", "status", "channel"),
        # Analytics (callplane.analytics): an organization's or an agent's conversations by the
        # time they happened (imported ones carry `started_at`; `created_at` otherwise).
        Index(
            "ix_conversations_analytics_agent",
            "organization_id",
            "agent_id",
            func.coalesce(text("started_at"), text("created_at")),
        ),
        Index(
            "ix_conversations_analytics_org",
            "organization_id",
            func.coalesce(text("started_at"), text("created_at")),
        ),
        Index("ix_conversations_expiry", "status", "expires_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    agent_version_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    direction: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    turns: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transcript: Mapped[list[Any] | None] = mapped_column(JSONType)
    summary: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONType, nullable=False, default=dict
    )
    # Live conversations only (null on imported ones): why it ended, when it expires if idle.
    ended_reason: Mapped[str | None] = mapped_column(String(40))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    caller: Mapped[str | None] = mapped_column(String(64))
    # Post-conversation analysis (callplane.analytics.analysis); `tool_call_count` and
    # `successful` are kept as columns so that analytics aggregate them in SQL.
    tool_call_count: Mapped[int | None] = mapped_column(Integer)
    successful: Mapped[bool | None] = mapped_column(Boolean)
    analysis_status: Mapped[str | None] = mapped_column(String(20))
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    analyzed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
