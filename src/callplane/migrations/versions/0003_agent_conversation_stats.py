"""agent conversation stats

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:09:23.417026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_conversation_stats",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("duration_total", sa.Float(), nullable=False),
        sa.Column("durations_counted", sa.Integer(), nullable=False),
        sa.Column("last_conversation_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_agent_conversation_stats_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "agent_id", "status", "channel", name=op.f("pk_agent_conversation_stats")
        ),
    )
    with op.batch_alter_table("agent_conversation_stats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_conversation_stats_organization_id"),
            ["organization_id"],
            unique=False,
        )

    # Totals for the conversations already there.
    op.execute(
        """
        INSERT INTO agent_conversation_stats (agent_id, status, channel, organization_id,
            conversations, duration_total, durations_counted, last_conversation_at)
        SELECT agent_id, status, channel, organization_id, count(*),
            coalesce(sum(duration_seconds), 0), count(duration_seconds),
            max(coalesce(started_at, created_at))
        FROM conversations
        WHERE agent_id IS NOT NULL
        GROUP BY agent_id, status, channel, organization_id
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("agent_conversation_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_conversation_stats_organization_id"))

    op.drop_table("agent_conversation_stats")
