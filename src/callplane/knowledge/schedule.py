"""Scheduled refreshes: a collection with `refresh_interval_hours` is refreshed that often.

The workflow engine starts the scheduled workflow `knowledge_refresh_schedule` every
CALLPLANE_KNOWLEDGE_REFRESH_CHECK_MINUTES (registered by callplane.wiring; the schedule lives in
the system database, so every process of a cluster fires each tick under one workflow id and it
runs once). A tick finds the collections that are due and starts the ordinary `knowledge_refresh`
workflow for each, under a workflow id made of the collection and its due slot:

- a collection is due once `refresh_interval_hours` have passed since its last refresh (since
  its creation if it never had one), and only if it holds URL documents (nothing to re-fetch
  otherwise);
- its slot is the latest `base + k * interval` (k ≥ 1) not after now. Two ticks that race, or a
  tick that runs again after a crash, start the slot's refresh once (same id); a slot whose run
  failed or was cancelled is not retried before the next slot, an interval later; after downtime
  only the latest missed slot runs, once;
- no refresh starts while one of the same collection (scheduled or requested) is unfinished
  (KnowledgeService.start_scheduled_refresh, with the collection's row locked).

At most MAX_STARTS_PER_TICK refreshes start per tick, longest-waiting first; the rest wait for
the next tick.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select

from callplane.config import Settings
from callplane.db.types import utcnow
from callplane.knowledge.service import REFRESH, KnowledgeService
from callplane.models import KnowledgeCollection, KnowledgeDocument
from callplane.workflows import engine, steps
from callplane.workflows.repository import WorkflowRunRepository
from callplane.workflows.runtime import runtime

SCHEDULE = "knowledge_refresh_schedule"  # the scheduled workflow's durable name: never change it
MAX_STARTS_PER_TICK = 100
SHORTEST_INTERVAL = timedelta(hours=1)  # the smallest refresh_interval_hours


def crontab(settings: Settings) -> str | None:
    """The tick's schedule (DBOS crontab with seconds), or None when scheduled refreshes are
    off (CALLPLANE_KNOWLEDGE_REFRESH_CHECK_MINUTES=0)."""
    minutes = settings.knowledge_refresh_check_minutes
    if minutes == 0:
        return None
    if minutes == 60:
        return "0 0 * * * *"
    return f"0 */{minutes} * * * *"


def due_slot(base: datetime, interval_hours: int, now: datetime) -> datetime | None:
    """The latest `base + k * interval` (k ≥ 1) not after `now`, or None if the first is later."""
    interval = timedelta(hours=interval_hours)
    first = base + interval
    if first > now:
        return None
    return first + ((now - first) // interval) * interval


def refresh_workflow_id(collection_id: uuid.UUID | str, slot: datetime) -> str:
    return f"knowledge-refresh:{collection_id}:{slot.strftime('%Y%m%dT%H%M%SZ')}"


async def _due(now_iso: str) -> list[dict[str, str]]:
    """The due collections (every organization's), longest-waiting first, at most
    MAX_STARTS_PER_TICK: organization, collection and the slot's workflow id."""
    now = datetime.fromisoformat(now_iso)
    base = func.coalesce(KnowledgeCollection.last_refreshed_at, KnowledgeCollection.created_at)
    has_pages = exists().where(
        KnowledgeDocument.collection_id == KnowledgeCollection.id,
        KnowledgeDocument.url.is_not(None),
    )
    statement = (
        select(
            KnowledgeCollection.id,
            KnowledgeCollection.organization_id,
            KnowledgeCollection.refresh_interval_hours,
            KnowledgeCollection.last_refreshed_at,
            KnowledgeCollection.created_at,
        )
        .where(
            KnowledgeCollection.refresh_interval_hours.is_not(None),
            or_(
                KnowledgeCollection.last_refreshed_at.is_(None),
                KnowledgeCollection.last_refreshed_at <= now - SHORTEST_INTERVAL,
            ),
            has_pages,
        )
        .order_by(base, KnowledgeCollection.id)
    )
    due: list[dict[str, str]] = []
    async with runtime().database.session(write=False) as session:
        rows = (await session.execute(statement)).all()
    for collection_id, organization_id, hours, last_refreshed_at, created_at in rows:
        slot = due_slot(last_refreshed_at or created_at, hours, now) if hours else None
        if slot is None:
            continue
        due.append(
            {
                "organization_id": str(organization_id),
                "collection_id": str(collection_id),
                "workflow_id": refresh_workflow_id(collection_id, slot),
            }
        )
        if len(due) == MAX_STARTS_PER_TICK:
            break
    return due


async def _start(item: dict[str, str]) -> dict[str, bool]:
    """Start the slot's refresh (see KnowledgeService.start_scheduled_refresh): `started` if it
    was started now, `enqueue` while the slot's run waits to be handed to the engine (also when
    this step runs again after a crash that followed its commit)."""
    organization_id = uuid.UUID(item["organization_id"])
    async with steps.transaction("knowledge_schedule_refresh") as session:
        service = KnowledgeService(session, organization_id)
        started = await service.start_scheduled_refresh(
            uuid.UUID(item["collection_id"]), item["workflow_id"]
        )
        run = started or await WorkflowRunRepository(session, organization_id).get_run(
            item["workflow_id"]
        )
        waiting = run is not None and run.status == "queued"
    return {"started": started is not None, "enqueue": waiting}


async def refresh_due_collections(scheduled_at: datetime, context: Any = None) -> dict[str, int]:
    """The scheduled workflow `knowledge_refresh_schedule` (registered by callplane.wiring);
    also callable directly (tests): how many collections were due and how many refreshes it
    started."""
    due = await engine.run_step(_due, utcnow().isoformat())
    started = 0
    for item in due:
        outcome = await engine.run_step(_start, item)
        if outcome["enqueue"]:
            # A step's transaction has no after-commit hooks: the workflow hands the run to the
            # engine itself (recorded by the engine as its step; enqueuing an id the engine
            # already has is a no-op, and the worker's sweep also enqueues a queued run).
            await engine.enqueue(REFRESH, item["workflow_id"], item["workflow_id"])
        started += outcome["started"]
    return {"due": len(due), "started": started}
