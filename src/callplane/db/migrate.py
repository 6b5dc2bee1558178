"""Run Alembic migrations programmatically (the `callplane migrate` command and the tests).

Alembic (and Mako under it, ~10 MiB resident) is imported only when a migration command runs: a
serving process imports this module for `/ready`, which compares the database's revision with
the newest one without Alembic (tests/db/test_migrations.py holds the two answers equal).
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    # stdout given here: Config's default is whatever sys.stdout was when alembic.config was first
    # imported, which may be a stream closed since (a CliRunner's, when `migrate` ran in-process).
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


@lru_cache
def head_revision() -> str | None:
    """The newest revision: the one no other migration names as its `down_revision` (read
    from the migration files' assignments, as Alembic does, without importing Alembic)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text()).body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                values[target.id] = ast.literal_eval(value)
        revision = values.get("revision")
        if isinstance(revision, str):
            down = values.get("down_revision")
            revisions[revision] = down if isinstance(down, str) else None
    heads = set(revisions) - set(revisions.values())
    return max(heads) if heads else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision (Alembic's `alembic_version` table); None before any migration."""
    async with engine.connect() as connection:
        try:
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:  # no such table: never migrated
            return None
        return None if found is None else str(found)
