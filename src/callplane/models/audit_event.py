from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType, UTCDateTime, utcnow
from callplane.models.base import Base, IdMixin


class AuditEvent(IdMixin, Base):
    """One write, as the audit log tells it. Written in the transaction of the write itself,
    so there is never a change without its event nor an event without its change."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_created", "organization_id", "created_at", "id"),
        Index("ix_audit_events_created", "created_at"),  # retention, across organizations
        Index("ix_audit_events_org_action", "organization_id", "action", "created_at", "id"),
        Index("ix_audit_events_org_resource", "organization_id", "resource_id", "created_at", "id"),
        Index("ix_audit_events_org_actor", "organization_id", "actor_id", "created_at", "id"),
        # Only the events of workflow steps have a key: the others (most) are not indexed here.
        Index(
            "ux_audit_events_dedupe_key",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
            sqlite_where=text("dedupe_key IS NOT NULL"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(40), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(100), nullable=False)
    actor_type: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(100))
    credential_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    request_id: Mapped[str | None] = mapped_column(String(128))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Set on events recorded inside a workflow step (a digest of workflow id, step, action,
    # resource and occurrence): a step re-run after a crash cannot record its event twice.
    # NULL elsewhere (request-path events), and then left out of the unique index.
    dedupe_key: Mapped[str | None] = mapped_column(String(64))
