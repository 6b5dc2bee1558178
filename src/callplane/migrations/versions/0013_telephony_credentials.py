"""telephony credentials (voice gateway)

One row per organization and carrier (twilio, telnyx): the account id, the secret the gateway
needs to check webhook signatures and call the carrier's REST API (encrypted with the server's
secret key), and Telnyx's public signing key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telephony_credentials",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_telephony_credentials_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telephony_credentials")),
        sa.UniqueConstraint(
            "organization_id",
            "provider",
            name=op.f("uq_telephony_credentials_organization_id_provider"),
        ),
    )


def downgrade() -> None:
    op.drop_table("telephony_credentials")
