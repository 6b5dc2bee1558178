from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType, UTCDateTime
from callplane.models.base import Base, IdMixin, TimestampsMixin


class Agent(IdMixin, TimestampsMixin, Base):
    __tablename__ = "agents"
    __table_args__ = (
        Index("ix_agents_org_created", "organization_id", "created_at", "id"),
        Index("ix_agents_org_updated", "organization_id", "updated_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONType, nullable=False, default=dict
    )
    # The version calls and sessions use; set by publish (rollback = re-publish an older one).
    live_version_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agent_versions.id", ondelete="SET NULL", use_alter=True)
    )
    live_version: Mapped[int | None] = mapped_column(Integer)  # number of live_version_id
    sip_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sip_deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
