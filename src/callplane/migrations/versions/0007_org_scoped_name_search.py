"""name search index scoped to the organization (PostgreSQL)

The table-wide trigram index made a small organization's name search scan every organization's
matches (a rare word in a 1k-agent tenant read the ~10,000 matches of a 1M-agent one). With
btree_gin, one GIN index holds (organization_id, name trigrams), so a search reads only its own
organization's matches. Built CONCURRENTLY: writes to `agents` go on during the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 23:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_agents_org_name_trgm"
            " ON agents USING gin (organization_id, name gin_trgm_ops)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_agents_name_trgm")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_agents_name_trgm"
            " ON agents USING gin (name gin_trgm_ops)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_agents_org_name_trgm")
