"""rollups: conversations stored at ±infinity count at year 1 and year 9999

asyncpg stores Python's `datetime.min` and `datetime.max` (an import from year 1, or to the end of
year 9999: both valid ISO-8601 the API accepts) as PostgreSQL's -infinity and infinity. The
rollup trigger of 0018 took the epoch of such a start time and cast its period to bigint: the
import failed with a 500 ("bigint out of range"). 0018 now clamps the moment into year 1 to
year 9999 (for databases migrated from scratch, and its backfill); this replaces the function in
databases already past 0018. Downgrading keeps the corrected function: the old one is only the
same function with the bug.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 02:40:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's unixepoch() reads year 1 and year 9999 as they are
    path = Path(__file__).with_name("0018_conversation_rollups.py")
    spec = importlib.util.spec_from_file_location("callplane_migration_0018", path)
    assert spec is not None and spec.loader is not None
    rollups = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rollups)
    op.execute(rollups.PG_APPLY.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))


def downgrade() -> None:
    pass
