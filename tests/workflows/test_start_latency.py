"""Work a request hands to the embedded workflow engine starts within a second (the queues are
polled every QUEUE_POLLING_SECONDS)."""

from __future__ import annotations

from datetime import datetime

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
    assert engine.QUEUE_POLLING_SECONDS < 1.0
    site = serve(dental_site())
    # The first build after the engine starts waits for DBOS's queue manager to start the queue's
    # worker thread (it looks for new queues every second): not what this test is about.
    warm_up = await start(tenant, company_name="Acme warm-up", company_website=site.url)
    assert (await wait_for_workflow(tenant, warm_up))["status"] == "succeeded"
    delays = []
    for n in range(4):  # several phases of the poll
        workflow_id = await start(tenant, company_name=f"Acme {n}", company_website=site.url)
        run = await wait_for_workflow(tenant, workflow_id)
        assert run["status"] == "succeeded", run
        delays.append((_at(run["started_at"]) - _at(run["created_at"])).total_seconds())
    assert max(delays) < 1.0, delays
