"""analytics: the histogram's period index in (period, version, second) order

`ix_conversation_duration_rollups_period` was (organization_id, grain, period) INCLUDE
(agent_key, version_key, second, n): an organization's histogram came out of it in period order
only, so PostgreSQL sorted every (period, version) group for its ordered arrays. Keyed on
(organization_id, grain, period, version_key, second) INCLUDE (agent_key, n), the index-only
scan hands the cells over already in the order analytics rank them (ADR 0021, amendment).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 01:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "conversation_duration_rollups"
_INDEX = "ix_conversation_duration_rollups_period"


def upgrade() -> None:
    op.drop_index(_INDEX, _TABLE)
    op.create_index(
        _INDEX,
        _TABLE,
        ["organization_id", "grain", "period", "version_key", "second"],
        postgresql_include=["agent_key", "n"],
    )


def downgrade() -> None:
    op.drop_index(_INDEX, _TABLE)
    op.create_index(
        _INDEX,
        _TABLE,
        ["organization_id", "grain", "period"],
        postgresql_include=["agent_key", "version_key", "second", "n"],
    )
