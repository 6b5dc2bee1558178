"""Deleting what has outlived its use, so tables do not grow forever: Idempotency-Keys past their
TTL (every write with a key stores its response) and audit events past their retention.

Runs in every process that runs workflows, beside the workflow sweep. Each batch is its own short
transaction, and a round deletes at most MAX_BATCHES batches per table, so a backlog (e.g. after
turning retention on) drains over a few rounds without holding long locks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import repository as audit_events
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.kit import idempotency

logger = logging.getLogger("callplane.housekeeping")

INTERVAL_SECONDS = 60.0
BATCH_SIZE = 1000
MAX_BATCHES = 20

Prune = Callable[[AsyncSession, datetime, int], Awaitable[int]]


async def prune(database: Database, settings: Settings) -> dict[str, int]:
    """One round: how many rows of each kind were deleted."""
    now = utcnow()
    jobs: dict[str, tuple[Prune, datetime]] = {
        "idempotency_keys": (
            idempotency.delete_expired,
            now - timedelta(hours=settings.idempotency_ttl_hours),
        )
    }
    if settings.audit_retention_days:
        jobs["audit_events"] = (
            audit_events.delete_created_before,
            now - timedelta(days=settings.audit_retention_days),
        )
    removed = {name: await _drain(database, job, cutoff) for name, (job, cutoff) in jobs.items()}
    if any(removed.values()):
        logger.info("housekeeping deleted old rows", extra={"deleted": removed})
    return removed


async def _drain(database: Database, job: Prune, cutoff: datetime) -> int:
    removed = 0
    for _ in range(MAX_BATCHES):
        async with database.session(write=True) as session, session.begin():
            deleted = await job(session, cutoff, BATCH_SIZE)
        removed += deleted
        if deleted < BATCH_SIZE:
            break
    return removed
