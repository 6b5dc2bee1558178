"""used voice call tokens, shared by every process of a cluster

- `used_call_tokens`: the id of each voice call token that opened a media stream, until the
  token expires; its primary key makes a token single-use across processes (callplane.voice).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_call_tokens",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_used_call_tokens")),
    )
    with op.batch_alter_table("used_call_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_used_call_tokens_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("used_call_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_call_tokens_expires_at"))
    op.drop_table("used_call_tokens")
