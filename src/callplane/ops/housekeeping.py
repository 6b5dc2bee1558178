"""Deleting what has outlived its use, so tables do not grow forever: Idempotency-Keys past their
TTL (every write with a key stores its response) and audit events past their retention.

Runs in every process that runs workflows, beside the workflow sweep. Each batch is its own short
transaction, and a round deletes at most MAX_BATCHES batches per table, so a backlog (e.g. after
turning retention on) drains over a few rounds without holding long locks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.repository import delete_oldest
from callplane.db.types import utcnow
from callplane.models import AuditEvent, IdempotencyKey
from callplane.observability.counters import HOUSEKEEPING_DELETED

logger = logging.getLogger("callplane.housekeeping")

INTERVAL_SECONDS = 60.0
BATCH_SIZE = 1000
MAX_BATCHES = 20


async def prune(database: Database, settings: Settings) -> dict[str, int]:
    """One round: how many rows of each kind were deleted."""
    now = utcnow()
    # Past its TTL a key would only be replaced on reuse (`IdempotencyMiddleware._reserve`).
    cutoffs: dict[Any, datetime] = {
        IdempotencyKey: now - timedelta(hours=settings.idempotency_ttl_hours)
    }
    if settings.audit_retention_days:  # their webhook deliveries go with them (ON DELETE CASCADE)
        cutoffs[AuditEvent] = now - timedelta(days=settings.audit_retention_days)
    removed = {
        model.__tablename__: await _drain(database, model, cutoff)
        for model, cutoff in cutoffs.items()
    }
    for table, count in removed.items():
        HOUSEKEEPING_DELETED.labels(table).inc(count)
    if any(removed.values()):
        logger.info("housekeeping deleted old rows", extra={"deleted": removed})
    return removed


async def _drain(database: Database, model: Any, cutoff: datetime) -> int:
    removed = 0
    for _ in range(MAX_BATCHES):
        async with database.session(write=True) as session, session.begin():
            deleted = await delete_oldest(session, model, cutoff, BATCH_SIZE)
        removed += deleted
        if deleted < BATCH_SIZE:
            break
    return removed
