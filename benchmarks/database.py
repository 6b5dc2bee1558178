"""The bench database: (re)creation, migrations, organizations and their API keys."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import asyncpg
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from callplane.db import migrate
from callplane.db.engine import Database, create_engine
from callplane.models import Conversation, Organization
from callplane.organizations.service import OrganizationService, PlatformService

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench"
BENCH_EMAIL = "bench@callplane.invalid"


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """The plain libpq-style DSN asyncpg wants, for `url` or another database on its server."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise SystemExit(f"the bench database URL names no database: {url}")
    return name


async def recreate(url: str) -> None:
    """Drop the bench database (disconnecting anyone in it) and create it empty."""
    name = database_name(url)
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: a bench database's name contains 'bench'")
    connection = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def exists(url: str) -> bool:
    connection = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    try:
        found = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", database_name(url)
        )
    finally:
        await connection.close()
    return found is not None


def upgrade(url: str) -> None:
    """Apply the project's migrations (synchronous: Alembic runs its own event loop)."""
    migrate.upgrade(url)


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    name: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def _database(url: str) -> Database:
    return Database(create_engine(url, pool_size=0))


async def create_org(url: str, name: str) -> Org:
    """An organization with the bench user as admin and a fresh all-scope API key."""
    database = _database(url)
    try:
        async with database.session(write=True) as session, session.begin():
            platform = PlatformService(session)
            organization = await platform.create_organization(name)
            user = await platform.get_or_create_user(BENCH_EMAIL)
            await platform.add_member(organization, user, "admin")
            _, key = await OrganizationService(session, organization.id).create_api_key("bench")
    finally:
        await database.dispose()
    return Org(organization.id, name, key.credential)


async def existing_org(url: str, name: str) -> Org | None:
    """The organization called `name`, with a new API key (secrets are never stored)."""
    database = _database(url)
    try:
        async with database.session(write=True) as session, session.begin():
            organization_id = await session.scalar(
                select(Organization.id).where(Organization.name == name)
            )
            if organization_id is None:
                return None
            _, key = await OrganizationService(session, organization_id).create_api_key("bench")
    finally:
        await database.dispose()
    return Org(organization_id, name, key.credential)


async def delete_orgs(url: str, name: str) -> None:
    """Remove organizations called `name` and, by cascade, everything they own."""
    database = _database(url)
    try:
        async with database.session(write=True) as session, session.begin():
            await session.execute(delete(Organization).where(Organization.name == name))
    finally:
        await database.dispose()


async def settle(url: str, organization_id: uuid.UUID, within: float = 180.0) -> float:
    """Wait until the background work the fixtures started is done: the analysis of their
    imported conversations (200 workflows, tens of seconds of the server's CPU on 2 cores).
    Measuring a hot path while that batch runs measures the batch; returns the seconds waited."""
    database = _database(url)
    started = time.monotonic()
    try:
        while True:
            async with database.session(write=False) as session:
                pending = await session.scalar(
                    select(func.count())
                    .select_from(Conversation)
                    .where(
                        Conversation.organization_id == organization_id,
                        Conversation.analysis_status == "pending",
                    )
                )
            waited = time.monotonic() - started
            if not pending:
                return waited
            if waited > within:
                raise RuntimeError(f"{pending} conversations still wait for their analysis")
            await asyncio.sleep(0.5)
    finally:
        await database.dispose()


async def count_agents(url: str, organization_id: uuid.UUID) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM agents WHERE organization_id = $1", organization_id
        )
    finally:
        await connection.close()
    return int(count)


async def server_version(url: str) -> str:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        version = await connection.fetchval("SHOW server_version")
        shared_buffers = await connection.fetchval("SHOW shared_buffers")
    finally:
        await connection.close()
    return f"PostgreSQL {version} (shared_buffers {shared_buffers})"
