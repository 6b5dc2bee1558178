"""audit events recorded by workflow steps are exactly-once: a nullable unique dedupe key

A step whose transaction committed just before its process died is run again (by the restarted
process or a survivor); its events carry a key derived from the workflow id and step, and the
re-run's insert of the same key is skipped. On PostgreSQL the unique index is built
CONCURRENTLY: every write records an audit event, and none must wait for the build.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ux_audit_events_dedupe_key"


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(INDEX, "audit_events", ["dedupe_key"], unique=True)
        return
    with op.get_context().autocommit_block():
        op.create_index(
            INDEX,
            "audit_events",
            ["dedupe_key"],
            unique=True,
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(
                INDEX, table_name="audit_events", postgresql_concurrently=True, if_exists=True
            )
    else:
        op.drop_index(INDEX, table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("dedupe_key")
