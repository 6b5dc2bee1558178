"""Alembic environment: one migration tree for SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from callplane.db.engine import create_engine
from callplane.models import Base

config = context.config

# Indexes only PostgreSQL has (trigram and GIN), created by raw SQL in the migrations.
POSTGRES_ONLY_INDEXES = {"ix_agents_name_trgm", "ix_agents_org_name_trgm", "ix_agents_metadata_gin"}


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    return not (type_ == "index" and name in POSTGRES_ONLY_INDEXES)


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
