"""Agent tests, their runs and the per-test results of each run (callplane.agenttests)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import JSONType, UTCDateTime
from callplane.models.base import Base, IdMixin, TimestampsMixin


class AgentTest(IdMixin, TimestampsMixin, Base):
    """A test of an agent: scripted user turns or a simulated caller, and expectations.

    `definition` holds the validated `AgentTestDefinition` (turns, caller, expectations, mocks);
    `revision` grows with every edit, so a run can say which tests it covered."""

    __tablename__ = "agent_tests"
    __table_args__ = (
        UniqueConstraint("agent_id", "name"),
        Index("ix_agent_tests_agent_created", "agent_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class AgentTestSettings(Base):
    """Per-agent test settings; an agent without a row has the defaults."""

    __tablename__ = "agent_test_settings"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    require_passing_tests: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class TestRun(IdMixin, TimestampsMixin, Base):
    """One run of an agent's tests (all, or the ones named) against one version.

    `revision` is the version's revision when the run was accepted and `tests_fingerprint` the
    tests it covered: the publish gate accepts a passed run only when both are still current."""

    __tablename__ = "test_runs"
    __table_args__ = (
        Index("ix_test_runs_agent_created", "agent_id", "created_at", "id"),
        Index("ix_test_runs_version_revision", "agent_version_id", "revision", "status"),
    )
    __test__ = False  # not a pytest class

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    agent_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agent_versions.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    all_tests: Mapped[bool] = mapped_column(Boolean, nullable=False)
    tests_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    test_ids: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TestResult(IdMixin, Base):
    """What one test did in one run: its verdict, each expectation's, and the transcript."""

    __tablename__ = "test_results"
    __table_args__ = (UniqueConstraint("test_run_id", "test_id"),)
    __test__ = False

    test_run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("test_runs.id", ondelete="CASCADE"), nullable=False
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    test_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    expectations: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    transcript: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    duration_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
