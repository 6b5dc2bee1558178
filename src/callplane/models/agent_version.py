from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType, UTCDateTime
from callplane.models.base import Base, IdMixin, TimestampsMixin


class AgentVersion(IdMixin, TimestampsMixin, Base):
    """One immutable-once-published configuration of an agent, numbered 1, 2, 3… per agent."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    instruction_builder_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    instructions_status: Mapped[str] = mapped_column(String(20), nullable=False, default="idle")
    instructions_dirty: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    instructions_manually_edited: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    instructions_generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
