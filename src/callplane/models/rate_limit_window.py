from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callplane.models.base import Base


class RateLimitWindow(Base):
    """Requests a credential made in one fixed window; shared by every process of a cluster."""

    __tablename__ = "rate_limit_windows"

    credential_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
