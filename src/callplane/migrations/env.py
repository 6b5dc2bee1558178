"""Alembic environment: one migration tree for SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from callplane.db.engine import create_engine
from callplane.models import Base

config = context.config

# Indexes only PostgreSQL has (trigram and GIN), created by raw SQL in the migrations.
POSTGRES_ONLY_INDEXES = {
    "ix_agents_name_trgm",
    "ix_agents_org_name_trgm",
    "ix_agents_org_name_grams",
    "ix_agents_org_name_short_grams",
    "ix_agents_metadata_gin",
}
# Full-text indexes of knowledge chunks, created by raw SQL (migration 0011): the
# PostgreSQL generated tsvector column and its GIN index, SQLite's FTS5 table and its shadow tables.
FULL_TEXT_INDEXES = {"ix_knowledge_chunks_search"}
FULL_TEXT_COLUMNS = {("knowledge_chunks", "search_vector")}
FULL_TEXT_TABLE_PREFIX = "knowledge_chunks_fts"


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    if type_ == "index" and name in POSTGRES_ONLY_INDEXES | FULL_TEXT_INDEXES:
        return False
    if type_ == "table" and name and name.startswith(FULL_TEXT_TABLE_PREFIX):
        return False
    if type_ == "column" and reflected:
        table = getattr(getattr(obj, "table", None), "name", None)
        return (table, name) not in FULL_TEXT_COLUMNS
    return True


target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", pool_size=0)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_online())


run()
