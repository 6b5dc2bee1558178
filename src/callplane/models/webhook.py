from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType
from callplane.models.base import Base, IdMixin, TimestampsMixin


class Webhook(IdMixin, TimestampsMixin, Base):
    """A subscription: the organization's events matching `events` are POSTed to `url`.

    `secret` is kept as issued, not hashed: the server signs every delivery with it (HMAC), so it
    must be able to read it back. The API shows it once, at creation or rotation.
    """

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_org_created", "organization_id", "created_at", "id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    events: Mapped[list[Any]] = mapped_column(JSONType, nullable=False, default=list)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
