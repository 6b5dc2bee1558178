"""audit events, rate limit windows, idempotency commit marks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 20:43:01.892108
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from callplane.db.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_org_action",
            ["organization_id", "action", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_audit_events_org_actor",
            ["organization_id", "actor_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_audit_events_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_org_resource",
            ["organization_id", "resource_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "rate_limit_windows",
        sa.Column("credential_id", sa.Uuid(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "credential_id", "window_start", name=op.f("pk_rate_limit_windows")
        ),
    )

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("committed_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("committed_at")
    op.drop_table("rate_limit_windows")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_org_resource")
        batch_op.drop_index("ix_audit_events_org_created")
        batch_op.drop_index("ix_audit_events_org_actor")
        batch_op.drop_index("ix_audit_events_org_action")

    op.drop_table("audit_events")
