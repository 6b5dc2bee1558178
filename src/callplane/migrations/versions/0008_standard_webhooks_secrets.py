"""webhook secrets in the Standard Webhooks format, keys unchanged

Before, a delivery was signed with the secret's own characters as the HMAC key. Standard
Webhooks reads a secret as `whsec_` + base64 of the key. Each stored secret S becomes
`whsec_` + base64(S as UTF-8): the same key, in the form the specification's libraries take, so
a receiver converts the secret it holds instead of rotating it (docs/webhooks.md).

Downgrade restores the secrets this migration rewrote. A secret issued after it stays as it is:
the old scheme keys the HMAC with its characters, which is still a valid secret.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:40:00
"""

import base64
import binascii
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "whsec_"
webhooks = sa.table("webhooks", sa.column("id", sa.Uuid()), sa.column("secret", sa.String()))


def _standard(secret: str) -> str:
    return PREFIX + base64.b64encode(secret.encode()).decode()


def _legacy(secret: str) -> str:
    """The secret this migration rewrote into `secret`, or `secret` itself."""
    try:
        original = base64.b64decode(secret.removeprefix(PREFIX), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return secret
    return original if original.startswith(PREFIX) else secret


def _rewrite(convert: Callable[[str], str]) -> None:
    connection = op.get_bind()
    for id_, secret in connection.execute(sa.select(webhooks.c.id, webhooks.c.secret)).all():
        converted = convert(secret)
        if converted != secret:
            connection.execute(
                webhooks.update().where(webhooks.c.id == id_).values(secret=converted)
            )


def upgrade() -> None:
    _rewrite(_standard)


def downgrade() -> None:
    _rewrite(_legacy)
