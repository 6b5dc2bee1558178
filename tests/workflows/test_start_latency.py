"""Work a request hands to the embedded workflow engine starts within a second: the process that
listens on the queues starts its own work at once (engine.enqueue), whatever the queues' polling
interval (a slow safety net on SQLite)."""

from __future__ import annotations

from datetime import datetime

from dbos import DBOS

from callplane.workflows import engine
from tests.factories import Tenant
from tests.scaffolding.conftest import dental_site
from tests.scaffolding.test_create_from_website import Serve, start
from tests.workflows.helpers import wait_for_workflow


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_website_build_starts_within_a_second_of_its_request(
    tenant: Tenant, serve: Serve
) -> None:
    # On SQLite the queues are polled more slowly than the bound: only a start here meets it.
    assert engine.SQLITE_QUEUE_POLLING_SECONDS > 1.0
    site = serve(dental_site())
    delays = []
    for n in range(4):
        workflow_id = await start(tenant, company_name=f"Acme {n}", company_website=site.url)
        run = await wait_for_workflow(tenant, workflow_id)
        assert run["status"] == "succeeded", run
        delays.append((_at(run["started_at"]) - _at(run["created_at"])).total_seconds())
        status = await DBOS.get_workflow_status_async(workflow_id)
        assert status is not None and status.queue_name is None  # started here, not dequeued
    assert max(delays) < 1.0, delays
