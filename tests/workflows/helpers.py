"""Waiting for workflows through the public API, as a client would."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from dbos import DBOSClient

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.models import WorkflowRun
from callplane.workflows.engine import system_database_url
from tests.factories import Tenant

FINISHED = {"succeeded", "failed", "cancelled"}


async def wait_for_workflow(
    tenant: Tenant, workflow_id: str, within: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await tenant.get(f"/core/workflows/{workflow_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] in FINISHED:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow {workflow_id} still {run['status']}: {run}")
        await asyncio.sleep(0.05)


async def start_generation(tenant: Tenant) -> str:
    """Starts instruction generation for a new agent's draft; returns the workflow id."""
    agent = await tenant.create_agent()
    draft = await tenant.create_version(
        agent["id"], config={}, instruction_builder_inputs={"company_name": "Acme"}
    )
    started = await tenant.post(
        f"/core/agents/{agent['id']}/versions/{draft['version']}/generate-instructions"
    )
    assert started.status_code == 202, started.text
    return str(started.json()["workflow_id"])


async def generate_instructions(tenant: Tenant) -> dict[str, Any]:
    """`start_generation`, then the finished (succeeded) run."""
    run = await wait_for_workflow(tenant, await start_generation(tenant))
    assert run["status"] == "succeeded", run
    return run


async def enqueue_private_run(
    database: Database, settings: Settings, tenant: Tenant, *, queue: str, website: str
) -> str:
    """A create-from-website run enqueued on `queue`, which only the test's own worker process
    listens to (never the in-process engine). Recorded as already running, so no sweep
    re-enqueues it on the default queue. Returns its id."""
    run_id = str(uuid.uuid4())
    async with database.session(write=True) as session, session.begin():
        session.add(
            WorkflowRun(
                id=run_id,
                organization_id=tenant.organization_id,
                type="create_from_website",
                status="running",
                input={"company_name": "Acme Dental", "company_website": website},
                progress={"completed_steps": 0, "total_steps": 5},
                attempts=0,
            )
        )
    client = DBOSClient(
        system_database_url=system_database_url(settings), application_name="callplane"
    )
    try:
        await client.enqueue_async(
            {"queue_name": queue, "workflow_name": "create_from_website", "workflow_id": run_id},
            run_id,
        )
    finally:
        client.destroy()
    return run_id
