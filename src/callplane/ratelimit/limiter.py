"""Fixed-window counters per credential.

`DatabaseCounter` keeps the count in `rate_limit_windows`, one atomic upsert per request, so every
API process sharing the database enforces one limit (ADR 0007). `MemoryCounter` is for a single
process (a laptop on SQLite, or when an operator chooses it).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from callplane.db.engine import Database
from callplane.errors import AppError
from callplane.models import RateLimitWindow

logger = logging.getLogger("callplane.ratelimit")

_PG_HIT = """
INSERT INTO rate_limit_windows (credential_id, window_start, hits) VALUES ($1, $2, 1)
ON CONFLICT (credential_id, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1
RETURNING hits
"""


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    default_detail = "Too many requests for this credential; retry after the Retry-After delay."


@dataclass(frozen=True)
class Verdict:
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        return self.remaining >= 0

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class Counter(Protocol):
    async def hit(self, credential_id: uuid.UUID, window_start: int) -> int:
        """Count one request in the window and return the window's count so far."""

    async def forget_before(self, window_start: int) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._hits: dict[tuple[uuid.UUID, int], int] = {}

    async def hit(self, credential_id: uuid.UUID, window_start: int) -> int:
        key = (credential_id, window_start)
        self._hits[key] = self._hits.get(key, 0) + 1
        return self._hits[key]

    async def forget_before(self, window_start: int) -> None:
        for key in [key for key in self._hits if key[1] < window_start]:
            del self._hits[key]


class DatabaseCounter:
    def __init__(self, database: Database):
        self._database = database

    async def hit(self, credential_id: uuid.UUID, window_start: int) -> int:
        if self._database.dialect == "postgresql":
            # The hot path: one statement straight through the driver, autocommitted.
            connection = await self._database.engine.raw_connection()
            try:
                driver: Any = connection.driver_connection
                hits: int = await driver.fetchval(_PG_HIT, credential_id, window_start)
            finally:
                connection.close()
            return hits
        insert = sqlite_insert(RateLimitWindow).values(
            credential_id=credential_id, window_start=window_start, hits=1
        )
        statement = insert.on_conflict_do_update(
            index_elements=["credential_id", "window_start"],
            set_={"hits": RateLimitWindow.hits + 1},
        ).returning(RateLimitWindow.hits)
        async with self._database.session(write=True) as session, session.begin():
            return int((await session.execute(statement)).scalar_one())

    async def forget_before(self, window_start: int) -> None:
        async with self._database.session(write=True) as session, session.begin():
            await session.execute(
                delete(RateLimitWindow).where(RateLimitWindow.window_start < window_start)
            )


class RateLimiter:
    def __init__(self, counter: Counter, limit: int, window_seconds: int):
        self.counter = counter
        self.limit = limit
        self.window = window_seconds
        self._forgotten_before = 0

    async def check(self, credential_id: uuid.UUID) -> Verdict:
        now = time.time()
        window_start = int(now // self.window) * self.window
        if window_start > self._forgotten_before:
            # Once per window per process: drop windows that can no longer matter.
            self._forgotten_before = window_start
            try:
                await self.counter.forget_before(window_start - self.window)
            except SQLAlchemyError:  # housekeeping: never the request's failure; next window
                logger.warning("could not delete old rate-limit windows", exc_info=True)
        hits = await self.counter.hit(credential_id, window_start)
        reset = max(1, math.ceil(window_start + self.window - now))
        return Verdict(self.limit, self.limit - hits, reset)


def build(
    database: Database, *, limit: int, window_seconds: int, backend: str
) -> RateLimiter | None:
    if limit <= 0:
        return None
    counter: Counter = MemoryCounter() if backend == "memory" else DatabaseCounter(database)
    return RateLimiter(counter, limit, window_seconds)


__all__ = ["RateLimited", "RateLimiter", "Verdict", "build"]
