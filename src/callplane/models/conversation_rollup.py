from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from callplane.models.base import Base

# `agent_key`/`version_key` hold this for a conversation without an agent or a version, and
# `ended_reason` holds "" for none: the rollups' keys have no NULLs, so that the maintaining
# upserts (`ON CONFLICT … DO UPDATE`) find the row on both dialects.
NO_ID = uuid.UUID(int=0)
HOUR = 1  # `grain`: the width of a rollup's period, in hours
DAY = 24
KEYS = ("organization_id", "grain", "agent_key", "period", "version_key")
COUNT_KEYS = (*KEYS, "status", "channel", "ended_reason")
SUMS = ("total", "evaluated", "successful", "tool_calls", "timed", "duration_sum")
# PostgreSQL: the keys' indexes carry the values, so reads are index-only scans (the rows of one
# day are scattered over the table's pages by the hourly rows written between them).


class ConversationRollup(Base):
    """Conversations counted per (organization, agent, version, UTC hour or day, status,
    channel, ended reason), with the sums analytics report (callplane.analytics, ADR 0021).

    Maintained by database triggers on `conversations` in the transaction of every write (insert,
    update of a counted column, delete), so that no code path can forget them. `period` is the
    number of hours (grain 1) or days (grain 24) since 1970-01-01T00:00Z of
    `coalesce(started_at, created_at)`.
    """

    __tablename__ = "conversation_rollups"
    __table_args__ = (
        Index("ix_conversation_rollups_period", "organization_id", "grain", "period"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    agent_key: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_key: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    ended_reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    evaluated: Mapped[int] = mapped_column(Integer, nullable=False)
    successful: Mapped[int] = mapped_column(Integer, nullable=False)
    tool_calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    timed: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_sum: Mapped[float] = mapped_column(Float, nullable=False)


class ConversationDurationRollup(Base):
    """How many conversations lasted each whole second (`floor(duration_seconds)`), per
    (organization, agent, version, UTC hour or day): the histogram the duration percentiles are
    read from. Maintained by the same triggers as `ConversationRollup`."""

    __tablename__ = "conversation_duration_rollups"
    __table_args__ = (
        PrimaryKeyConstraint(*KEYS, "second", postgresql_include=["n"]),
        # in the order analytics rank the cells: (period, version, second), index-only
        Index(
            "ix_conversation_duration_rollups_period",
            "organization_id",
            "grain",
            "period",
            "version_key",
            "second",
            postgresql_include=["agent_key", "n"],
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    agent_key: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_key: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    second: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)
