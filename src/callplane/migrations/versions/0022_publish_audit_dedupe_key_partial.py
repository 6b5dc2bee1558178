"""audit events: the unique index on `dedupe_key` holds only the events that have one

Only events recorded inside a workflow step carry a key (0009); every other event — most of them,
a publish to 100 numbers records 101 — has NULL there, and each still cost an entry in the
unique index (so the index grew as large as the table). Now partial: `WHERE dedupe_key IS NOT
NULL`. The code's ON CONFLICT names the predicate, which the full index satisfies as well, so
new code runs on either index; code from before this revision does not (its ON CONFLICT without
the predicate matches no partial index): migrate once no older process runs workflow steps. On
PostgreSQL the new index is built CONCURRENTLY before the old one is dropped: exactly-once
recording is never without its index.

Revision ID: publish
Revises: 0021
Create Date: 2026-12-05 04:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "publish"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ux_audit_events_dedupe_key"
BUILDING = "ux_audit_events_dedupe_key_new"
KEYED = sa.text("dedupe_key IS NOT NULL")


def upgrade() -> None:
    _replace(partial=True)


def downgrade() -> None:
    _replace(partial=False)


def _replace(*, partial: bool) -> None:
    where = KEYED if partial else None
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name="audit_events")
        op.create_index(INDEX, "audit_events", ["dedupe_key"], unique=True, sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        op.create_index(
            BUILDING,
            "audit_events",
            ["dedupe_key"],
            unique=True,
            postgresql_concurrently=True,
            if_not_exists=True,
            postgresql_where=where,
        )
        op.drop_index(
            INDEX, table_name="audit_events", postgresql_concurrently=True, if_exists=True
        )
        op.execute(f"ALTER INDEX {BUILDING} RENAME TO {INDEX}")
