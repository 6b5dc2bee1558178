from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.models.base import Base, IdMixin, TimestampsMixin


class PhoneNumber(IdMixin, TimestampsMixin, Base):
    """A number an organization owns, with independent inbound and outbound agent slots.

    Each slot keeps the agent id and version number beside the version id, so "numbers of this
    agent" is an indexed lookup and reads need no join; publishing writes all three together.
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (Index("ix_phone_numbers_org_created", "organization_id", "created_at", "id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    phone_number: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    outbound_shareable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    inbound_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    inbound_agent_version_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agent_versions.id", ondelete="SET NULL")
    )
    inbound_version: Mapped[int | None] = mapped_column(Integer)
    outbound_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    outbound_agent_version_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agent_versions.id", ondelete="SET NULL")
    )
    outbound_version: Mapped[int | None] = mapped_column(Integer)
