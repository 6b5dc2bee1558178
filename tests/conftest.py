"""Test fixtures: a real database (SQLite file, or PostgreSQL from CALLPLANE_TEST_DATABASE_URL)
built by running the migrations, the real app in-process, and tenants to call it with.

Tests are isolated by tenancy: each test makes its own organizations, so nothing is shared.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
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
from tests.factories import Tenant, TenantFactory
from tests.support.llm_stub import StubBehaviour, StubLLMServer
from tests.support.processes import Processes, process_env, server
from tests.support.receiver import Receiver
from tests.support.site import LocalSite, Route

POSTGRES = bool(os.environ.get("CALLPLANE_TEST_DATABASE_URL"))


def pytest_report_header() -> str:
    return f"callplane database: {'PostgreSQL' if POSTGRES else 'SQLite'}"


# Fixtures that start a process (or several) once for many tests: under pytest-xdist
# (`--dist loadgroup`) the tests that use one run on one worker, so it starts once, not per worker.
# (tests/cli/test_cli.py shares a module-scoped database the same way: it groups itself.)
SHARED_PROCESSES = ("server_url", "docs_server")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `processes` the tests that start `callplane` processes of their own (`processes`).

    Mark `nodb` every test that does not use the suite's database: no fixture it depends on,
    directly or through other fixtures, is `database_url` (the root of `settings`, the app, the
    tenants…). What such a test proves does not depend on CALLPLANE_TEST_DATABASE_URL, so the
    PostgreSQL run leaves them to the SQLite run (`-m "not nodb"`). A test that must know which
    database the suite runs on asks for a fixture that depends on it (`is_postgres`).

    And group the tests of each shared process fixture (SHARED_PROCESSES) on one xdist worker."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "database_url" not in fixtures:
            item.add_marker(pytest.mark.nodb)
        if "processes" in fixtures:
            item.add_marker(pytest.mark.processes)
        shared = [name for name in SHARED_PROCESSES if name in fixtures]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist sends the worker's test ids
def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail the run when pytest-xdist's groups are not in the test ids (`--dist loadgroup` keys
    them there): pytest 9.2 drops them silently (pytest-dev/pytest-xdist#1386), and then every
    worker starts the shared servers and chromium of its own, minutes of CI."""
    if not hasattr(session.config, "workerinput") or not session.config.getvalue("loadgroup"):
        return
    for item in session.items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"pytest-xdist's group is missing from {item.nodeid!r}: this pytest does not "
                "keep it (pytest-dev/pytest-xdist#1386); install the pinned pytest (make install)"
            )


def worker_database_url(base: str) -> str:
    """The suite's PostgreSQL database for this pytest-xdist worker: `<base>_gw0`, `<base>_gw1`…
    (the base itself without xdist). Each worker has its own, and so its own DBOS system schema
    (the engine keeps it in the app's database), so workers never take each other's work."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return base
    parsed = make_url(base)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The suite's database, migrated: PostgreSQL from CALLPLANE_TEST_DATABASE_URL (one per
    xdist worker), else a SQLite file in a temporary directory of this session (so of this worker);
    its DBOS system database is a file beside it."""
    base = os.environ.get("CALLPLANE_TEST_DATABASE_URL")
    if base:
        url = worker_database_url(base)
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
        # PostgreSQL's default 100 connections serve both xdist workers' apps and DBOS pools.
        database_pool_size=5,
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
def is_postgres(database_url: str) -> bool:
    """Which database the suite runs on (so a test that asks is a database test, see `nodb`)."""
    return make_url(database_url).get_backend_name() == "postgresql"


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


@pytest.fixture(scope="session")
def server_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `callplane serve` process on the suite's database, started once per session (per
    xdist worker), for what needs real sockets. It runs workflows on its own queue and executor
    id, so the in-process app never takes its work (and vice versa)."""
    suffix = uuid.uuid4().hex[:8]
    env = process_env(
        settings,
        CALLPLANE_WORKFLOW_QUEUE=f"sdk-{suffix}",
        CALLPLANE_WORKFLOW_EXECUTOR_ID=f"sdk-server-{suffix}",
        CALLPLANE_LOG_LEVEL="WARNING",
    )
    process = server(env, tmp_path_factory.mktemp("sdk-server") / "server.log")
    try:
        asyncio.run(process.wait_healthy())
        assert process.url is not None
        yield process.url
    finally:
        process.stop()


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
