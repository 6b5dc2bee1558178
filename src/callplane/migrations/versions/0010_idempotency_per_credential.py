"""idempotency records per credential

An `Idempotency-Key` record belonged to the organization, so another credential of it sending the
same key and request was replayed the first one's answer (a new API key, a webhook's signing
secret) without its own authorization being checked. Records now belong to (organization,
credential, key).

The existing rows cannot be attributed to a credential: they are deleted (they are replay records
kept 24 h; a retry across the upgrade of a request answered before it runs again, see ADR 0004).
The downgrade deletes them too: two credentials' records under one key would not fit the old key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.add_column(sa.Column("credential_id", sa.Uuid(), nullable=False))
        batch_op.create_primary_key(
            "pk_idempotency_keys", ["organization_id", "credential_id", "key"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.drop_column("credential_id")
        batch_op.create_primary_key("pk_idempotency_keys", ["organization_id", "key"])
