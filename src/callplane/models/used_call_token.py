from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import UTCDateTime
from callplane.models.base import Base


class UsedCallToken(Base):
    """A voice call token that opened a media stream (`voice.service.VoiceGateway.redeem`).

    Its primary key is the token's random id (`nonce`), so the first process to insert it wins and
    every other use of the same token, in any process of a cluster, is refused. A row is useless
    once the token has expired (`expires_at`, when the signed token's `exp` passes): the gateway
    deletes such rows as it goes. No organization: the id is random and says nothing."""

    __tablename__ = "used_call_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
