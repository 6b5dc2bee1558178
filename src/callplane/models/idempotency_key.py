from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType, UTCDateTime
from callplane.models.base import Base


class IdempotencyKey(Base):
    """A stored response for an `Idempotency-Key`, kept 24 h. It belongs to the credential that
    sent the request: the same key from another credential is another request (ADR 0004).
    `credential_id` is an API key's or a user token's id, so it has no foreign key."""

    __tablename__ = "idempotency_keys"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    credential_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    # null until the first attempt finishes; a retry meanwhile gets 409.
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set in the request's own transaction: its work is durable even if the response is lost.
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
