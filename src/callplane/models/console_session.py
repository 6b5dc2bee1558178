from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import UTCDateTime
from callplane.models.base import Base, IdMixin, TimestampsMixin


class ConsoleSession(IdMixin, TimestampsMixin, Base):
    """A signed-in browser of the web console (callplane.console).

    The cookie holds `<id>.<secret>`; only the secret's SHA-256 is kept. A session acts either as
    a user (its scopes are the user's role in `organization_id`, read again on every request) or
    as an API key (the key's scopes, and the session dies with the key). `csrf_token` is sent back
    by the pages with every state-changing request.
    """

    __tablename__ = "console_sessions"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    signed_in_with: Mapped[str] = mapped_column(String(20), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleLoginLink(IdMixin, TimestampsMixin, Base):
    """A one-time, short-lived sign-in link for a user in one organization (`callplane
    console-link`, printed by `make run`). Used once: `used_at` is set in the transaction that
    opens the session."""

    __tablename__ = "console_login_links"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
