"""live conversations: why and when they end, their variables and caller

A live conversation (POST /core/agents/{id}/conversations) ends for a reason (`ended_reason`),
expires when idle (`expires_at`, pushed forward by every turn; `last_activity_at`), and keeps the
template variables and caller it started with. Imported conversations leave them null. The index
serves the housekeeping sweep of idle conversations.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from callplane.db.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_activity_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "variables",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("caller", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_conversations_expiry", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_expiry")
        batch_op.drop_column("caller")
        batch_op.drop_column("variables")
        batch_op.drop_column("last_activity_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("ended_reason")
