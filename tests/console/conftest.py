"""The browser tests' world: one `callplane serve` process on a database of their own, a
chromium, and organizations made directly through the services.

They use no suite database fixture, so they are `nodb`: they run once, in the SQLite run (the
PostgreSQL run deselects them), grouped on one xdist worker so the server and browser start once.
Every test here is also marked `browser`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callplane.config import Settings
from callplane.console import sessions
from callplane.db import migrate
from callplane.db.engine import Database, create_engine
from callplane.models import ConsoleSession, Organization
from callplane.organizations.service import PlatformService
from tests.support.browser import CHROMIUM_ARGS, chromium_path
from tests.support.processes import Process, process_env, server

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "console"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "world" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@dataclass
class Org:
    id: uuid.UUID
    name: str
    admin_id: uuid.UUID
    admin_email: str
    api_key: str
    token: str


class World:
    """The server under test and a way to act on its database directly."""

    def __init__(self, url: str, database_url: str) -> None:
        self.url = url
        self.database_url = database_url

    def run(self, work: Any) -> Any:
        async def go() -> Any:
            database = Database(create_engine(self.database_url, pool_size=1))
            try:
                async with database.session(write=True) as session, session.begin():
                    return await work(session)
            finally:
                await database.dispose()

        # In a thread of its own: Playwright's sync API keeps an event loop in this one.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, go()).result()

    def org(self, name: str = "Acme Dental") -> Org:
        email = f"admin-{uuid.uuid4().hex[:8]}@example.test"

        async def work(session: Any) -> Org:
            made = await PlatformService(session).bootstrap(name, email)
            return Org(
                made.organization.id,
                name,
                made.user.id,
                email,
                made.api_key.credential,
                made.token.credential,
            )

        result: Org = self.run(work)
        return result

    def member(self, org: Org, role: str) -> uuid.UUID:
        async def work(session: Any) -> uuid.UUID:
            platform = PlatformService(session)
            user = await platform.get_or_create_user(f"{role}-{uuid.uuid4().hex[:8]}@example.test")
            organization = await session.get(Organization, org.id)
            await platform.add_member(organization, user, role)
            return user.id

        result: uuid.UUID = self.run(work)
        return result

    def login_link(self, org: Org, user_id: uuid.UUID | None = None) -> str:
        async def work(session: Any) -> str:
            issued = await sessions.create_login_link(
                session, user_id or org.admin_id, org.id, minutes=5
            )
            return issued.token

        return f"{self.url}/console/login/link?token={self.run(work)}"

    def expire_sessions(self, org: Org) -> None:
        async def work(session: Any) -> None:
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.organization_id == org.id)
                .values(expires_at=ConsoleSession.created_at)
            )

        self.run(work)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if chromium_path() is None:
        pytest.skip(
            "chromium is not installed (apt-get install -y chromium; .ci/run installs it): "
            "the console and widget browser tests need it"
        )
    directory = tmp_path_factory.mktemp("console-world")
    database_url = f"sqlite+aiosqlite:///{directory / 'console.db'}"
    migrate.upgrade(database_url)
    settings = Settings(env="test", database_url=database_url)
    env = process_env(
        settings,
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
        CALLPLANE_LOG_LEVEL="WARNING",
        CALLPLANE_WORKFLOW_EXECUTOR_ID=f"console-{uuid.uuid4().hex[:8]}",
        CALLPLANE_SIP_DOMAIN="sip.test.local",
    )
    process: Process = server(env, directory / "server.log")
    try:
        asyncio.run(process.wait_healthy(within=120))  # a loaded CI machine starts slowly
        assert process.url is not None
        yield World(process.url, database_url)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    """Per module: Playwright's sync API keeps an event loop running in this thread while it is
    open, and the suite's other fixtures (asyncio.run) need it closed once the module is done."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def org(world: World) -> Org:
    return world.org()


def sign_in(world: World, page: Any, org: Org, user_id: uuid.UUID | None = None) -> None:
    page.goto(world.login_link(org, user_id))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/agents")


def screenshot(page: Any, name: str) -> None:
    """Every run takes the screenshot (the page must render); CALLPLANE_UPDATE_SCREENSHOTS=1
    stores it as docs/console/<name>.png, the pictures docs/console.md shows."""
    image = page.screenshot(full_page=True)
    assert len(image) > 1000
    if os.environ.get("CALLPLANE_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(image)
