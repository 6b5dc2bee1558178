from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import UTCDateTime
from callplane.models.base import Base


class AgentConversationStat(Base):
    """Running totals of an agent's conversations per (status, channel).

    Kept in the same transaction as the conversations they count, so the agent detail reads a
    handful of rows instead of aggregating every conversation the agent ever had.
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
