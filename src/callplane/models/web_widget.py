from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType
from callplane.models.base import Base, IdMixin, TimestampsMixin


class WebWidget(IdMixin, TimestampsMixin, Base):
    __tablename__ = "web_widgets"
    __table_args__ = (Index("ix_web_widgets_org_created", "organization_id", "created_at", "id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agent_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agent_versions.id", ondelete="CASCADE"), nullable=False
    )
    domains: Mapped[list[Any]] = mapped_column(JSONType, nullable=False, default=list)
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
