"""Scheduled refreshes (`refresh_interval_hours`): the engine's schedule, the tick, one run at a
time, and the setting."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dbos import DBOS
from pydantic import ValidationError
from sqlalchemy import select, update

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.knowledge import schedule
from callplane.knowledge.service import REFRESH
from callplane.models import KnowledgeCollection, WorkflowRun
from callplane.workflows import engine
from tests.factories import Tenant
from tests.knowledge.test_documents import new_collection
from tests.knowledge.test_pages import Serve, crawl, site_pages
from tests.workflows.helpers import wait_for_workflow


async def paged_collection(tenant: Tenant, serve: Serve, **body: object) -> str:
    """A collection holding one crawled page."""
    site = serve(site_pages())
    collection_id = await new_collection(tenant, **body)
    await crawl(tenant, collection_id, url=site.url, max_pages=1)
    return collection_id


async def backdate(database: Database, collection_id: str, base: datetime) -> None:
    """Pretend the collection was created (and last refreshed, if it was) at `base`."""
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(KnowledgeCollection)
            .where(KnowledgeCollection.id == uuid.UUID(collection_id))
            .values(created_at=base, last_refreshed_at=base)
        )


async def refreshes(database: Database, collection_id: str) -> list[WorkflowRun]:
    async with database.session(write=False) as session:
        runs = await session.scalars(select(WorkflowRun).where(WorkflowRun.type == REFRESH))
        return [run for run in runs if run.input.get("collection_id") == collection_id]


def base_hours_ago(hours: float) -> datetime:
    return (utcnow() - timedelta(hours=hours)).replace(microsecond=0)


async def test_the_schedule_is_registered_with_the_engine_and_its_tick_refreshes(
    tenant: Tenant, serve: Serve, database: Database
) -> None:
    """The system database holds the schedule (5 minutes by default, on the queue every process
    that takes work listens to); a tick the engine starts itself (as at a scheduled time)
    refreshes the due collection."""
    assert await engine.schedule_of(schedule.SCHEDULE) == "0 */5 * * * *"
    assert (await DBOS.get_schedule_async(schedule.SCHEDULE) or {}).get("queue_name") == (
        engine.SCHEDULES_QUEUE
    )
    collection_id = await paged_collection(tenant, serve, refresh_interval_hours=2)
    base = base_hours_ago(2.5)
    await backdate(database, collection_id, base)
    handle = await asyncio.to_thread(DBOS.trigger_schedule, schedule.SCHEDULE)
    await asyncio.to_thread(handle.get_result)
    expected = schedule.refresh_workflow_id(collection_id, base + timedelta(hours=2))
    run = await wait_for_workflow(tenant, expected)
    assert run["status"] == "succeeded", run
    # (Any process that takes work may run the tick, and the refresh then runs on its queue: the
    # suite's `callplane serve` fetches no loopback page, so the page may count as failed.)
    outcomes = run["result"]["unchanged"] + run["result"]["failed"]
    assert len(outcomes) == 1 and run["result"]["changed"] == [], run
    collection = (await tenant.get(f"/core/knowledge-collections/{collection_id}")).json()
    assert datetime.fromisoformat(collection["last_refreshed_at"]) > base + timedelta(hours=2)
    # Refreshed: not due again before another interval.
    due = await schedule._due(utcnow().isoformat())
    assert collection_id not in [item["collection_id"] for item in due]


async def test_the_setting_writes_or_deletes_the_schedule_at_launch(settings: Settings) -> None:
    """What each process does when its engine launches: 0 deletes the schedule, a period writes
    it (replacing another process's)."""
    try:
        off = settings.model_copy(update={"knowledge_refresh_check_minutes": 0})
        await engine._apply_schedules(off)
        assert await engine.schedule_of(schedule.SCHEDULE) is None
        hourly = settings.model_copy(update={"knowledge_refresh_check_minutes": 60})
        await engine._apply_schedules(hourly)
        assert await engine.schedule_of(schedule.SCHEDULE) == "0 0 * * * *"
    finally:
        await engine._apply_schedules(settings)
    assert await engine.schedule_of(schedule.SCHEDULE) == "0 */5 * * * *"


async def test_due_not_due_and_no_interval(
    tenant: Tenant, serve: Serve, database: Database
) -> None:
    due = await paged_collection(tenant, serve, refresh_interval_hours=1)
    not_due = await paged_collection(tenant, serve, refresh_interval_hours=24)
    never = await paged_collection(tenant, serve)
    no_pages = await new_collection(tenant, refresh_interval_hours=1)
    await backdate(database, due, base_hours_ago(5.5))  # slots at 1, 2, ... 5 h: only the 5th
    await backdate(database, not_due, base_hours_ago(23))
    await backdate(database, never, base_hours_ago(24 * 400))
    await backdate(database, no_pages, base_hours_ago(24 * 400))

    result = await schedule.refresh_due_collections(utcnow(), None)
    assert result["due"] >= 1
    [run] = await refreshes(database, due)
    base = datetime.fromisoformat(
        (await tenant.get(f"/core/knowledge-collections/{due}")).json()["created_at"]
    )
    assert run.id == schedule.refresh_workflow_id(due, base + timedelta(hours=5))
    assert (await wait_for_workflow(tenant, run.id))["status"] == "succeeded"
    for collection_id in (not_due, never, no_pages):
        assert await refreshes(database, collection_id) == []
    # A missed slot runs once: the next tick finds it refreshed; the slot's start run again (as
    # after a crash) starts nothing either.
    await schedule.refresh_due_collections(utcnow(), None)
    assert len(await refreshes(database, due)) == 1
    again = {"organization_id": str(tenant.organization_id), "collection_id": due}
    assert (await schedule._start({**again, "workflow_id": run.id}))["started"] is False
    assert len(await refreshes(database, due)) == 1


async def test_racing_ticks_start_one_refresh_and_none_while_one_runs(
    tenant: Tenant, serve: Serve, database: Database
) -> None:
    racing = await paged_collection(tenant, serve, refresh_interval_hours=3)
    await backdate(database, racing, base_hours_ago(4))
    await asyncio.gather(*(schedule.refresh_due_collections(utcnow(), None) for _ in range(3)))
    runs = await refreshes(database, racing)
    assert len(runs) == 1, [run.id for run in runs]
    assert (await wait_for_workflow(tenant, runs[0].id))["status"] == "succeeded"

    # A refresh requested through the API is unfinished: the tick starts nothing.
    busy = await paged_collection(tenant, serve, refresh_interval_hours=1)
    await backdate(database, busy, base_hours_ago(2))
    running = WorkflowRun(
        id=f"running-{uuid.uuid4()}",
        organization_id=tenant.organization_id,
        type=REFRESH,
        status="running",
        input={"collection_id": busy},
        progress={"completed_steps": 0, "total_steps": 1},
        attempts=1,
    )
    async with database.session(write=True) as session, session.begin():
        session.add(running)
    await schedule.refresh_due_collections(utcnow(), None)
    assert [run.id for run in await refreshes(database, busy)] == [running.id]
    # The API returns the unfinished run too rather than starting a second one.
    response = await tenant.post(f"/core/knowledge-collections/{busy}/refresh")
    assert response.json()["workflow_id"] == running.id
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(WorkflowRun).where(WorkflowRun.id == running.id).values(status="failed")
        )
    await schedule.refresh_due_collections(utcnow(), None)
    runs = await refreshes(database, busy)
    assert len(runs) == 2
    [scheduled] = [run for run in runs if run.id != running.id]
    assert (await wait_for_workflow(tenant, scheduled.id))["status"] == "succeeded"


@pytest.mark.nodb
def test_slots() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.due_slot(base, 2, base + timedelta(hours=1, minutes=59)) is None
    assert schedule.due_slot(base, 2, base + timedelta(hours=2)) == base + timedelta(hours=2)
    # After downtime, the latest missed slot only.
    assert schedule.due_slot(base, 2, base + timedelta(hours=9)) == base + timedelta(hours=8)
    assert (
        schedule.refresh_workflow_id("c", base + timedelta(hours=8))
        == "knowledge-refresh:c:20260101T080000Z"
    )


@pytest.mark.nodb
def test_the_check_period_setting() -> None:
    def crontab(minutes: int) -> str | None:
        return schedule.crontab(Settings(knowledge_refresh_check_minutes=minutes))

    assert crontab(5) == "0 */5 * * * *"
    assert crontab(1) == "0 */1 * * * *"
    assert crontab(60) == "0 0 * * * *"
    assert crontab(0) is None
    for wrong in (7, 45, -1, 61):
        with pytest.raises(ValidationError, match="knowledge_refresh_check_minutes"):
            Settings(knowledge_refresh_check_minutes=wrong)
