"""Test fixtures: a real database (SQLite file, or PostgreSQL from CALLPLANE_TEST_DATABASE_URL)
built by running the migrations, the real app in-process, and tenants to call it with.

Tests are isolated by tenancy: each test makes its own organizations, so nothing is shared.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callplane.app import create_app
from callplane.config import Settings
from callplane.db import migrate
from callplane.db.engine import Database, create_engine
from tests.crawler.site import LocalSite, Route
from tests.factories import Tenant, TenantFactory
from tests.llm.stub_server import StubBehaviour, StubLLMServer
from tests.ops.processes import Processes
from tests.webhooks.receiver import Receiver

POSTGRES = bool(os.environ.get("CALLPLANE_TEST_DATABASE_URL"))


def pytest_report_header() -> str:
    return f"callplane database: {'PostgreSQL' if POSTGRES else 'SQLite'}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("CALLPLANE_TEST_DATABASE_URL")
    if url:
        asyncio.run(_reset_postgres(url))
        migrate.upgrade(url)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="callplane-test-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'test.db'}"
        migrate.upgrade(url)
        yield url


async def _reset_postgres(url: str) -> None:
    """Create the database if needed, then empty it: every session starts from the migrations."""
    parsed = make_url(url)
    admin = create_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False), pool_size=0
    )
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            await connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()
    engine = create_engine(url, pool_size=0)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("DROP SCHEMA IF EXISTS dbos CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        sip_domain="sip.test.local",
        crawler_allow_private_networks=True,  # the tests crawl sites they serve on 127.0.0.1
    )


@pytest.fixture(scope="session")
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
def client(app_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return app_client


@pytest.fixture(scope="session")
def database(app_client: httpx.AsyncClient) -> Database:
    db: Database = app_client.app.state.database  # type: ignore[attr-defined]
    return db


@pytest.fixture(scope="session")
def tenants(app_client: httpx.AsyncClient, database: Database) -> TenantFactory:
    return TenantFactory(database, app_client)


@pytest.fixture
async def tenant(tenants: TenantFactory) -> Tenant:
    """A fresh organization with an admin user, an all-scope key and a token."""
    return await tenants.create()


@pytest.fixture
async def other_tenant(tenants: TenantFactory) -> Tenant:
    return await tenants.create()


@pytest.fixture
def is_postgres() -> bool:
    return POSTGRES


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Route]], LocalSite]]:
    """Start local websites (127.0.0.1) for one test; all are shut down afterwards."""
    sites: list[LocalSite] = []

    def start(routes: dict[str, Route]) -> LocalSite:
        site = LocalSite(routes)
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Real callplane processes (serve, worker) for one test; all killed afterwards."""
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def hanging_llm() -> Iterator[StubLLMServer]:
    """A local OpenAI-compatible model that holds its first answer until released (set
    `behaviour.hang = False`): a workflow's `write` step stays in flight for a kill or a signal."""
    server = StubLLMServer(
        behaviour=StubBehaviour(reply="Answer callers of Acme Dental.", hang=True)
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Start receivers (127.0.0.1) for one test; all are shut down afterwards."""
    started: list[Receiver] = []

    def start(*args: object, **kwargs: object) -> Receiver:
        receiver = Receiver(*args, **kwargs)  # type: ignore[arg-type]
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()
