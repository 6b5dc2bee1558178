"""agent tests, test runs, conversation analysis and analytics

- `agent_tests` (an agent's tests), `agent_test_settings` (`require_passing_tests`),
  `test_runs` and `test_results` (callplane.agenttests);
- on `conversations` (whose `ended_reason` comes with 0012): `tool_call_count`,
  `successful`, and the post-conversation analysis (`analysis_status`, `analysis`,
  `analyzed_at`) (callplane.analytics);
- the analytics index: an organization's conversations by agent and by when they happened
  (`coalesce(started_at, created_at)`, an expression index on both dialects).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:29:07.960322
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import JSONType, UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_test_settings",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("require_passing_tests", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_test_settings_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_agent_test_settings_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_test_settings")),
    )
    with op.batch_alter_table("agent_test_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_test_settings_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "agent_tests",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", JSONType, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_tests_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_agent_tests_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tests")),
        sa.UniqueConstraint("agent_id", "name", name=op.f("uq_agent_tests_agent_id_name")),
    )
    with op.batch_alter_table("agent_tests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_tests_agent_created", ["agent_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agent_tests_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "test_runs",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(length=100), nullable=False),
        sa.Column("all_tests", sa.Boolean(), nullable=False),
        sa.Column("tests_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("test_ids", JSONType, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_test_runs_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_test_runs_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_test_runs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_runs")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_test_runs_workflow_id")),
    )
    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_test_runs_agent_created", ["agent_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_runs_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_test_runs_version_revision",
            ["agent_version_id", "revision", "status"],
            unique=False,
        )

    op.create_table(
        "test_results",
        sa.Column("test_run_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("test_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("expectations", JSONType, nullable=False),
        sa.Column("transcript", JSONType, nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_test_results_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_run_id"],
            ["test_runs.id"],
            name=op.f("fk_test_results_test_run_id_test_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_results")),
        sa.UniqueConstraint(
            "test_run_id", "test_id", name=op.f("uq_test_results_test_run_id_test_id")
        ),
    )
    with op.batch_alter_table("test_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_results_organization_id"), ["organization_id"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tool_call_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("successful", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("analysis_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("analysis", JSONType, nullable=True))
        batch_op.add_column(sa.Column("analyzed_at", UTCDateTime(), nullable=True))

    op.execute(
        "CREATE INDEX ix_conversations_analytics_agent ON conversations "
        "(organization_id, agent_id, coalesce(started_at, created_at))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_conversations_analytics_agent")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("analyzed_at")
        batch_op.drop_column("analysis")
        batch_op.drop_column("analysis_status")
        batch_op.drop_column("successful")
        batch_op.drop_column("tool_call_count")

    with op.batch_alter_table("test_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_results_organization_id"))

    op.drop_table("test_results")
    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_test_runs_version_revision")
        batch_op.drop_index(batch_op.f("ix_test_runs_organization_id"))
        batch_op.drop_index("ix_test_runs_agent_created")

    op.drop_table("test_runs")
    with op.batch_alter_table("agent_tests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_tests_organization_id"))
        batch_op.drop_index("ix_agent_tests_agent_created")

    op.drop_table("agent_tests")
    with op.batch_alter_table("agent_test_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_test_settings_organization_id"))

    op.drop_table("agent_test_settings")
