"""Fire requests at the in-process app at the same time.

Each request through the shared `httpx.AsyncClient` runs as its own task on the event loop and takes
its own pooled database connection, so on PostgreSQL the transactions really overlap; on SQLite the
writers queue on BEGIN IMMEDIATE. Every batch is bounded, so a deadlock fails the test instead of
hanging the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

DEADLOCK_TIMEOUT_SECONDS = 60


async def at_once(*requests: Awaitable[T]) -> list[T]:
    """Run all `requests` concurrently; fail (not hang) if they do not finish in time."""
    return list(await asyncio.wait_for(asyncio.gather(*requests), timeout=DEADLOCK_TIMEOUT_SECONDS))
