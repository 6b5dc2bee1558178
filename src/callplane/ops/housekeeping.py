"""Deleting what has outlived its use, so tables do not grow forever: Idempotency-Keys past their
TTL (every write with a key stores its response), audit events past their retention, and the
workflow engine's records of long-finished workflows (every webhook attempt is one). It also ends
live conversations left idle past their expiry (`idle_timeout`; a turn would end them too).

Runs in every process that runs workflows, beside the workflow sweep. Each batch is one statement
that commits on its own (`Database.autocommit`), and a round deletes at most MAX_BATCHES batches
per table, so a backlog (e.g. after turning retention on) drains over a few rounds without
holding long locks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from callplane.config import Settings
from callplane.conversations.live import LiveRuntime, expire_idle
from callplane.db.engine import Database
from callplane.db.repository import delete_oldest
from callplane.db.types import utcnow
from callplane.models import AuditEvent, IdempotencyKey
from callplane.observability.counters import HOUSEKEEPING_DELETED
from callplane.runtime.http import GuardedHttp
from callplane.runtime.workflows import DurableWorkflows
from callplane.workflows import engine

logger = logging.getLogger("callplane.housekeeping")

INTERVAL_SECONDS = 60.0
BATCH_SIZE = 1000
MAX_BATCHES = 20

Batch = Callable[[int], Awaitable[int]]  # deletes up to n rows, returns how many


async def prune(database: Database, settings: Settings) -> dict[str, int]:
    """One round: how many rows of each kind were deleted."""
    now = utcnow()
    # Past its TTL a key would only be replaced on reuse (`idempotency.repository.reserve`).
    cutoffs: dict[Any, datetime] = {
        IdempotencyKey: now - timedelta(hours=settings.idempotency_ttl_hours)
    }
    if settings.audit_retention_days:  # their webhook deliveries go with them (ON DELETE CASCADE)
        cutoffs[AuditEvent] = now - timedelta(days=settings.audit_retention_days)
    jobs: dict[str, Batch] = {
        model.__tablename__: partial(_delete_rows, database, model, cutoff)
        for model, cutoff in cutoffs.items()
    }
    if settings.workflow_history_days and engine.is_running():
        history = now - timedelta(days=settings.workflow_history_days)
        jobs["workflow_history"] = partial(engine.delete_finished_before, history)
    jobs["conversations_idle_ended"] = partial(expire_idle, database, _ending_runtime(settings))
    removed = {name: await _drain(batch) for name, batch in jobs.items()}
    for name, count in removed.items():
        HOUSEKEEPING_DELETED.labels(name).inc(count)
    if any(removed.values()):
        logger.info("housekeeping deleted old rows", extra={"deleted": removed})
    return removed


def _ending_runtime(settings: Settings) -> LiveRuntime:
    """Enough of a live runtime to end conversations (their post-conversation workflows)."""
    return LiveRuntime(
        model=None,
        http=GuardedHttp(allow_private_networks=settings.crawler_allow_private_networks),
        idle_timeout_seconds=settings.conversation_idle_timeout_seconds,
        workflows=DurableWorkflows() if engine.is_running() else None,
    )


async def _delete_rows(database: Database, model: Any, cutoff: datetime, limit: int) -> int:
    async with database.autocommit() as connection:  # one statement, one transaction
        return await delete_oldest(connection, model, cutoff, limit)


async def _drain(batch: Batch) -> int:
    removed = 0
    for _ in range(MAX_BATCHES):
        deleted = await batch(BATCH_SIZE)
        removed += deleted
        if deleted < BATCH_SIZE:
            break
    return removed
