from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.models.base import Base, IdMixin, TimestampsMixin


class TelephonyCredential(IdMixin, TimestampsMixin, Base):
    """An organization's account at a carrier (Twilio, Telnyx): one per carrier.

    `secret_encrypted` (Twilio's auth token, Telnyx's API key) is encrypted with the server's
    secret key (`kit.secrets.SecretBox`), not hashed: the gateway checks the carrier's webhook
    signatures and calls its REST API with it. `public_key` is Telnyx's webhook signing key
    (public, kept as given).
    """

    __tablename__ = "telephony_credentials"
    __table_args__ = (UniqueConstraint("organization_id", "provider"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    account_id: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    public_key: Mapped[str | None] = mapped_column(String(200))
