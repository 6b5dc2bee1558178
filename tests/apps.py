"""Another API process in the test: the app built on other settings, run in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from callplane.app import create_app
from callplane.config import Settings


@asynccontextmanager
async def another_app(
    settings: Settings, *, raise_app_exceptions: bool = True, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app built on `settings` with `overrides` (not validated again, so e.g.
    production on SQLite is allowed): its own engine, caches and counters, and no workflow
    engine (the session's app runs that)."""
    app = create_app(settings.model_copy(update={"workflows": "off", **overrides}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client
