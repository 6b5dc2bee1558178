"""Fixed-window counters per credential.

`DatabaseCounter` keeps the count in `rate_limit_windows`, one atomic upsert per request, so every
API process sharing the database enforces one limit (ADR 0007). `MemoryCounter` is for a single
process (a laptop on SQLite, or when an operator chooses it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from callplane.db import dialect
from callplane.db.engine import Database
from callplane.models import RateLimitWindow

logger = logging.getLogger("callplane.ratelimit")

_PG_HIT = """
INSERT INTO rate_limit_windows (credential_id, window_start, hits) VALUES ($1, $2, $3)
ON CONFLICT (credential_id, window_start) DO UPDATE SET hits = rate_limit_windows.hits + $3
RETURNING hits
"""
_SQLITE_HIT = """
INSERT INTO rate_limit_windows (credential_id, window_start, hits)
VALUES (:credential_id, :window_start, :n)
ON CONFLICT (credential_id, window_start) DO UPDATE SET hits = rate_limit_windows.hits + :n
RETURNING hits
"""
# A process charges the shared counter for up to this many requests at once (a lease), and for
# at most 1/16 of what is left of the window's budget: one round trip per many requests while
# the budget is large, exact (one at a time) near the limit.
MAX_LEASE = 50
LEASE_SHARE = 16


@dataclass(frozen=True)
class Verdict:
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        return self.remaining >= 0

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = headers["RateLimit-Reset"]
        return headers


class Counter(Protocol):
    async def hit(self, credential_id: uuid.UUID, window_start: int, n: int) -> int:
        """Count `n` requests in the window and return the window's count so far."""

    async def forget_before(self, window_start: int) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._hits: dict[tuple[uuid.UUID, int], int] = {}

    async def hit(self, credential_id: uuid.UUID, window_start: int, n: int) -> int:
        key = (credential_id, window_start)
        self._hits[key] = self._hits.get(key, 0) + n
        return self._hits[key]

    async def forget_before(self, window_start: int) -> None:
        for key in [key for key in self._hits if key[1] < window_start]:
            del self._hits[key]


class DatabaseCounter:
    def __init__(self, database: Database):
        self._database = database

    async def hit(self, credential_id: uuid.UUID, window_start: int, n: int) -> int:
        if dialect.is_postgres(self._database):
            # The hot path: one statement straight through the driver, autocommitted.
            return int(
                (await dialect.fetchrow(self._database, _PG_HIT, credential_id, window_start, n))[0]
            )
        # The same, autocommitted through aiosqlite (the ORM session cost 10x the CPU: ~36 µs
        # per request at leases of 50). UUIDs are stored as SQLAlchemy's Uuid stores them.
        params = {"credential_id": credential_id.hex, "window_start": window_start, "n": n}
        return int((await dialect.sqlite_write_fetchone(self._database, _SQLITE_HIT, params))[0])

    async def forget_before(self, window_start: int) -> None:
        async with self._database.session(write=True) as session, session.begin():
            await session.execute(
                delete(RateLimitWindow).where(RateLimitWindow.window_start < window_start)
            )


@dataclass
class _Lease:
    """Requests this process has charged to the shared counter and may still admit."""

    window_start: int
    left: int
    charged_total: int  # the window's count (all processes) after this process's last charge


class RateLimiter:
    """Never admits more than `limit` requests per window across processes: admissions come out
    of leases already charged to the counter. A lease a process does not use up is lost when the
    window ends (the cost: a little under-admission, at most 1/16 of the budget that was left)."""

    def __init__(self, counter: Counter, limit: int, window_seconds: int):
        self.counter = counter
        self.limit = limit
        self.window = window_seconds
        self._forgotten_before = 0
        self._leases: dict[uuid.UUID, _Lease] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    async def check(self, credential_id: uuid.UUID) -> Verdict:
        now = time.time()
        window_start = int(now // self.window) * self.window
        if window_start > self._forgotten_before:
            # Once per window per process: drop windows that can no longer matter.
            self._forgotten_before = window_start
            self._leases.clear()
            self._locks.clear()
            try:
                await self.counter.forget_before(window_start - self.window)
            except SQLAlchemyError:  # housekeeping: never the request's failure; next window
                logger.warning("could not delete old rate-limit windows", exc_info=True)
        lease = self._leases.get(credential_id)
        if not self._usable(lease, window_start):
            lock = self._locks.setdefault(credential_id, asyncio.Lock())
            async with lock:  # one charge at a time per credential in this process
                lease = self._leases.get(credential_id)
                if not self._usable(lease, window_start):
                    lease = await self._charge(credential_id, window_start, lease)
        assert lease is not None
        reset = max(1, math.ceil(window_start + self.window - now))
        if lease.left <= 0:
            return Verdict(self.limit, -1, reset)
        lease.left -= 1
        return Verdict(self.limit, max(0, self.limit - lease.charged_total) + lease.left, reset)

    def _usable(self, lease: _Lease | None, window_start: int) -> bool:
        """Admissions left in this window's lease, or the window is spent (refuse, no charge)."""
        return (
            lease is not None
            and lease.window_start == window_start
            and (lease.left > 0 or lease.charged_total >= self.limit)
        )

    async def _charge(
        self, credential_id: uuid.UUID, window_start: int, previous: _Lease | None
    ) -> _Lease:
        known = previous.charged_total if previous and previous.window_start == window_start else 0
        size = max(1, min(MAX_LEASE, (self.limit - known) // LEASE_SHARE))
        total = await self.counter.hit(credential_id, window_start, size)
        granted = max(0, min(size, self.limit - (total - size)))
        lease = _Lease(window_start, granted, total)
        self._leases[credential_id] = lease
        return lease


def build(
    database: Database, *, limit: int, window_seconds: int, backend: str
) -> RateLimiter | None:
    if limit <= 0:
        return None
    counter: Counter = MemoryCounter() if backend == "memory" else DatabaseCounter(database)
    return RateLimiter(counter, limit, window_seconds)


__all__ = ["RateLimiter", "Verdict", "build"]
