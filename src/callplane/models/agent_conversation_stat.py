from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import UTCDateTime
from callplane.models.base import Base


class AgentConversationStat(Base):
    """Running totals of an agent's conversations per (status, channel).

    Kept in the same transaction as the conversations they count, so the agent's summary is
    built from a handful of rows instead of every conversation the agent ever had.
    """

    __tablename__ = "agent_conversation_stats"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    conversations: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_total: Mapped[float] = mapped_column(Float, nullable=False)
    durations_counted: Mapped[int] = mapped_column(Integer, nullable=False)
    last_conversation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgentConversationSummary(Base):
    """An agent's `AgentConversationStat` rows added up: what the agent detail shows as
    `conversation_stats`, read by primary key instead of aggregated on every read.

    Written only by database triggers on `agent_conversation_stats` (migration
    0022_detailstats_summaries), in the transaction of every change to them; never by Python.
    `by_status` and `by_channel` are plain JSON (not JSONB) on PostgreSQL: the detail statement
    embeds them as they are.
    """

    __tablename__ = "agent_conversation_summaries"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    by_status: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    by_channel: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    duration_total: Mapped[float] = mapped_column(Float, nullable=False)
    durations_counted: Mapped[int] = mapped_column(Integer, nullable=False)
    last_conversation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
