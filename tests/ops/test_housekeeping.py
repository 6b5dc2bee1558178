"""Housekeeping: expired Idempotency-Keys and audit events past retention are deleted, in
batches, across organizations; everything else stays."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from dbos import DBOS
from sqlalchemy import create_engine, event, func, make_url, select, text, update

from callplane import worker
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.models import AuditEvent, IdempotencyKey, WebhookDelivery
from callplane.ops import housekeeping
from callplane.workflows.engine import system_database_url
from tests.factories import Tenant
from tests.observability.helpers import scrape, value
from tests.support.receiver import Receiver
from tests.webhooks.helpers import all_finished, create_webhook, wait_for_deliveries
from tests.workflows.helpers import generate_instructions


async def _write_with_key(tenant: Tenant, name: str) -> str:
    key = f"housekeeping-{uuid.uuid4()}"
    response = await tenant.post(
        "/core/agents", json={"name": name}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text
    return key


async def _age_keys(database: Database, keys: list[str], hours: float) -> None:
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_(keys))
            .values(created_at=utcnow() - timedelta(hours=hours))
        )


async def _keys_left(database: Database, keys: list[str]) -> set[str]:
    async with database.session(write=False) as session:
        found = await session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.key.in_(keys))
        )
        return set(found)


async def _age_events(database: Database, tenant: Tenant, days: float) -> None:
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.organization_id == tenant.organization_id)
            .values(created_at=utcnow() - timedelta(days=days))
        )


async def _events(database: Database, tenant: Tenant) -> int:
    async with database.session(write=False) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.organization_id == tenant.organization_id)
            )
            or 0
        )


async def test_keys_past_their_ttl_are_deleted_and_fresh_ones_kept(
    tenant: Tenant, other_tenant: Tenant, database: Database, settings: Settings
) -> None:
    expired = [await _write_with_key(tenant, "old"), await _write_with_key(other_tenant, "old")]
    fresh = [await _write_with_key(tenant, "new")]
    await _age_keys(database, expired, settings.idempotency_ttl_hours + 0.1)
    await _age_keys(database, fresh, settings.idempotency_ttl_hours - 0.1)

    removed = await housekeeping.prune(database, settings)

    # The count may be 0: this process's own sweeper may have got there first.
    assert "idempotency_keys" in removed
    assert await _keys_left(database, expired + fresh) == set(fresh)
    # A fresh key still replays.
    replay = await tenant.post(
        "/core/agents", json={"name": "new"}, headers={"Idempotency-Key": fresh[0]}
    )
    assert replay.headers.get("idempotent-replayed") == "true"


async def test_a_backlog_drains_in_batches_over_rounds(
    tenant: Tenant, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "BATCH_SIZE", 2)
    monkeypatch.setattr(housekeeping, "MAX_BATCHES", 2)
    keys = [await _write_with_key(tenant, f"n{i}") for i in range(7)]
    await _age_keys(database, keys, settings.idempotency_ttl_hours + 1)

    await housekeeping.prune(database, settings)
    assert len(await _keys_left(database, keys)) <= 3  # at most 2 batches of 2 per round
    await housekeeping.prune(database, settings)
    assert await _keys_left(database, keys) == set()


async def test_a_stalled_event_loop_does_not_keep_sqlite_locked(
    tenant: Tenant, database: Database, settings: Settings, is_postgres: bool
) -> None:
    """Other processes can write while this process's event loop is blocked in the middle of a
    round: each batch commits within its own statement. (With a transaction per batch the write
    lock stayed taken until the loop came back to commit; a test blocking its loop on a server
    subprocess made that server wait 30 s for the lock.)"""
    if is_postgres:
        pytest.skip("SQLite's single write lock")
    keys = [await _write_with_key(tenant, "stalled")]
    await _age_keys(database, keys, settings.idempotency_ttl_hours + 1)
    path = make_url(settings.database_url).database
    assert path
    outsider_wrote: list[bool] = []

    def stall_the_loop(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith("DELETE FROM idempotency_keys"):
            return
        outsider = sqlite3.connect(path, timeout=5, isolation_level=None)  # another process
        try:
            outsider.execute("BEGIN IMMEDIATE")
            outsider.execute("ROLLBACK")
            outsider_wrote.append(True)
        except sqlite3.OperationalError:  # database is locked
            outsider_wrote.append(False)
        finally:
            outsider.close()

    sync_engine = database.engine.sync_engine
    event.listen(sync_engine, "after_cursor_execute", stall_the_loop)
    try:
        await housekeeping.prune(database, settings)
    finally:
        event.remove(sync_engine, "after_cursor_execute", stall_the_loop)
    assert outsider_wrote and all(outsider_wrote), outsider_wrote
    assert await _keys_left(database, keys) == set()


async def test_audit_events_are_kept_forever_by_default(
    tenant: Tenant, database: Database, settings: Settings
) -> None:
    assert settings.audit_retention_days == 0
    await tenant.create_agent()
    await _age_events(database, tenant, days=3650)
    before = await _events(database, tenant)
    removed = await housekeeping.prune(database, settings)
    assert "audit_events" not in removed
    assert await _events(database, tenant) == before > 0


async def test_events_past_retention_go_with_their_deliveries(
    tenant: Tenant,
    other_tenant: Tenant,
    database: Database,
    settings: Settings,
    receivers: Callable[..., Receiver],
) -> None:
    webhook = await create_webhook(tenant, receivers().url, ["agent.*"])
    await tenant.create_agent(name="Old news")
    await wait_for_deliveries(tenant, webhook["id"], all_finished)
    await other_tenant.create_agent(name="Old too")
    await _age_events(database, tenant, days=31)
    await _age_events(database, other_tenant, days=31)
    await tenant.create_agent(name="Recent")  # its event and delivery stay
    events_before = await _events(database, tenant)

    retained = settings.model_copy(update={"audit_retention_days": 30})
    removed = await housekeeping.prune(database, retained)

    # The tenant's old events and at least the other tenant's one.
    assert removed["audit_events"] >= (events_before - 1) + 1
    assert await _events(database, tenant) == 1
    assert await _events(database, other_tenant) == 0
    listed = (await tenant.get("/core/audit-events")).json()["data"]
    assert [e["action"] for e in listed] == ["agent.created"]
    async with database.session(write=False) as session:
        left = await session.scalars(
            select(WebhookDelivery.event_id).where(
                WebhookDelivery.webhook_id == uuid.UUID(webhook["id"])
            )
        )
        assert list(left) == [uuid.UUID(listed[0]["id"])]


async def test_the_sweep_loop_runs_housekeeping_at_once(
    tenant: Tenant, database: Database, settings: Settings
) -> None:
    """A process that runs workflows prunes as its sweep starts, then every minute."""
    key = await _write_with_key(tenant, "swept")
    await _age_keys(database, [key], settings.idempotency_ttl_hours + 1)
    loop = asyncio.create_task(worker.sweep_forever(database, settings))
    try:
        for _ in range(100):
            if not await _keys_left(database, [key]):
                break
            await asyncio.sleep(0.05)
        assert await _keys_left(database, [key]) == set()
    finally:
        loop.cancel()


async def test_deleted_rows_are_counted_in_metrics(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    name = "callplane_housekeeping_deleted_rows_total"
    keys = [await _write_with_key(tenant, "counted") for _ in range(2)]
    before = value(await scrape(client), name, table="idempotency_keys")
    await _age_keys(database, keys, settings.idempotency_ttl_hours + 1)
    await housekeeping.prune(database, settings)
    after = value(await scrape(client), name, table="idempotency_keys")
    # Whoever deleted them (this call, or this process's own sweeper) counted them.
    assert await _keys_left(database, keys) == set()
    assert after - before >= 2


def _age_workflow(settings: Settings, workflow_id: str, days: float) -> None:
    """Moves a finished workflow's completion back in the engine's own records."""
    url = system_database_url(settings)
    table = "workflow_status" if url.startswith("sqlite") else "dbos.workflow_status"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            moved = connection.execute(
                text(
                    f"UPDATE {table} SET completed_at = completed_at - :ms"
                    " WHERE workflow_uuid = :id"
                ),
                {"ms": int(days * 86_400_000), "id": workflow_id},
            )
            assert moved.rowcount == 1
    finally:
        engine.dispose()


async def _generate(tenant: Tenant) -> str:
    return str((await generate_instructions(tenant))["workflow_id"])


async def test_long_finished_workflow_history_is_deleted_and_runs_stay_readable(
    tenant: Tenant, database: Database, settings: Settings
) -> None:
    old, recent = await _generate(tenant), await _generate(tenant)
    _age_workflow(settings, old, days=settings.workflow_history_days + 1)

    removed = await housekeeping.prune(database, settings)

    assert removed["workflow_history"] >= 1
    assert await DBOS.get_workflow_status_async(old) is None
    assert await DBOS.get_workflow_status_async(recent) is not None
    for run_id in (old, recent):  # the API's own record of the run stays
        run = await tenant.get(f"/core/workflows/{run_id}")
        assert run.status_code == 200 and run.json()["status"] == "succeeded"


async def test_workflow_history_kept_when_turned_off(
    tenant: Tenant, database: Database, settings: Settings
) -> None:
    run_id = await _generate(tenant)
    _age_workflow(settings, run_id, days=3650)
    kept = settings.model_copy(update={"workflow_history_days": 0})
    assert "workflow_history" not in await housekeeping.prune(database, kept)
    assert await DBOS.get_workflow_status_async(run_id) is not None
