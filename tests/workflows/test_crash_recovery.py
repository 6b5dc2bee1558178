"""A worker process killed (`kill -9`) in the middle of a workflow resumes it after a restart,
without repeating finished steps and without creating anything twice — on both databases.

The worker is the real `callplane worker` command in a subprocess, on its own queue so the test
process's in-process engine never touches this run. In the first test the stub model hangs on the
first request, so the kill lands while the `write` step is in flight, after `crawl` and
`knowledge` finished. In the second the test pause point (CALLPLANE_TEST_PAUSE_AFTER_STEP) holds
`deploy` after its transaction committed, before the engine checkpointed it: the re-run of that
step must not record its events (nor send their webhooks) a second time. In the third an embedded
`serve` starts the build it accepted itself (no queue: engine.enqueue's start here) and is killed
in the `write` step: restarted, it resumes the build like a dequeued one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import httpx
from dbos import DBOS

from callplane.config import Settings
from callplane.db.engine import Database
from tests.factories import Tenant
from tests.scaffolding.conftest import dental_site
from tests.support.llm_stub import StubLLMServer
from tests.support.processes import Processes, Serve, process_env
from tests.support.receiver import Receiver
from tests.webhooks.helpers import create_webhook, deliveries
from tests.workflows.helpers import enqueue_private_run, wait_for_workflow


async def test_killed_worker_resumes_without_repeating_steps(
    tenant: Tenant,
    settings: Settings,
    database: Database,
    serve: Serve,
    hanging_llm: StubLLMServer,
    processes: Processes,
) -> None:
    site = serve(dental_site())
    suffix = uuid.uuid4().hex[:8]
    queue = f"crash-{suffix}"
    env = process_env(
        settings,
        CALLPLANE_WORKFLOW_QUEUE=queue,
        CALLPLANE_WORKFLOW_EXECUTOR_ID=f"crash-worker-{suffix}",
        CALLPLANE_LLM_BASE_URL=hanging_llm.base_url,
        CALLPLANE_LLM_TIMEOUT_SECONDS="60",
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
    )
    worker = processes.worker(env, "worker")
    run_id = await enqueue_private_run(database, settings, tenant, queue=queue, website=site.url)
    await worker.wait_for(  # a process starts slowly on a loaded machine
        lambda: len(hanging_llm.requests) == 1, "the write step to reach the model", within=60
    )
    assert site.page_hits()["/"] == 1

    worker.kill()
    hanging_llm.behaviour.hang = False
    worker.restart()  # same executor id: it recovers the workflow

    run = await wait_for_workflow(tenant, run_id, within=60)
    assert run["status"] == "succeeded", (run, worker.tail())
    assert run["attempts"] == 2

    assert site.page_hits()["/"] == 1  # the finished crawl step was not run again
    assert len(hanging_llm.requests) == 2  # the unfinished write step was
    agents = (await tenant.get("/core/agents")).json()["data"]
    assert [a["id"] for a in agents] == [run["result"]["agent_id"]]
    collections = (await tenant.get("/core/knowledge-collections")).json()["data"]
    assert [c["id"] for c in collections] == [run["result"]["collection_id"]]
    detail = (await tenant.get(f"/core/agents/{agents[0]['id']}")).json()
    assert detail["live_version"] == 1 and len(detail["versions"]) == 1
    assert (
        "Answer callers of Acme Dental."
        in (await tenant.get(f"/core/agents/{agents[0]['id']}/versions/1")).json()["config"][
            "instructions"
        ]
    )


async def test_a_serve_killed_in_a_build_it_started_itself_resumes_it(
    tenant: Tenant,
    settings: Settings,
    serve: Serve,
    hanging_llm: StubLLMServer,
    processes: Processes,
) -> None:
    site = serve(dental_site())
    suffix = uuid.uuid4().hex[:8]
    executor = f"crash-serve-{suffix}"
    env = process_env(
        settings,
        CALLPLANE_WORKFLOW_QUEUE=f"crash-serve-{suffix}",
        CALLPLANE_WORKFLOW_EXECUTOR_ID=executor,
        CALLPLANE_LLM_BASE_URL=hanging_llm.base_url,
        CALLPLANE_LLM_TIMEOUT_SECONDS="60",
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
    )
    api = processes.server(env, "api", no_worker=False)
    await api.wait_healthy(within=90)  # a process starts slowly on a loaded machine
    async with httpx.AsyncClient(base_url=api.url or "", headers=tenant.headers) as client:
        response = await client.post(
            "/core/agents/create-from-website",
            json={"company_name": "Acme Dental", "company_website": site.url},
        )
    assert response.status_code == 202, response.text
    run_id = str(response.json()["workflow_id"])
    await api.wait_for(
        lambda: len(hanging_llm.requests) == 1, "the write step to reach the model", within=60
    )
    status = await DBOS.get_workflow_status_async(run_id)
    assert status is not None and status.queue_name is None, status  # started, never queued
    assert status.executor_id == executor and status.status == "PENDING"

    api.kill()
    hanging_llm.behaviour.hang = False
    # Restarted with the same executor id, DBOS's launch recovery puts its PENDING workflows
    # back on a queue; without one of its own, the workflow takes DBOS's internal queue, which
    # every process of the application serves (here the restarted serve or this test's engine).
    api.restart()

    run = await wait_for_workflow(tenant, run_id, within=60)
    assert run["status"] == "succeeded", (run, api.tail())
    assert run["attempts"] == 2
    assert site.page_hits()["/"] == 1  # the finished crawl step was not run again
    agents = (await tenant.get("/core/agents")).json()["data"]
    assert [a["id"] for a in agents] == [run["result"]["agent_id"]]  # created once
    collections = (await tenant.get("/core/knowledge-collections")).json()["data"]
    assert [c["id"] for c in collections] == [run["result"]["collection_id"]]
    detail = (await tenant.get(f"/core/agents/{agents[0]['id']}")).json()
    assert detail["live_version"] == 1 and len(detail["versions"]) == 1


async def test_a_step_killed_after_its_commit_records_its_events_once(
    tenant: Tenant,
    settings: Settings,
    database: Database,
    serve: Serve,
    processes: Processes,
    receivers: Callable[..., Receiver],
) -> None:
    site = serve(dental_site())
    webhook = await create_webhook(tenant, receivers().url, ["*"])
    suffix = uuid.uuid4().hex[:8]
    queue = f"pause-{suffix}"
    env = process_env(
        settings,
        CALLPLANE_WORKFLOW_QUEUE=queue,
        CALLPLANE_WORKFLOW_EXECUTOR_ID=f"pause-worker-{suffix}",
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
    )
    worker = processes.worker(env | {"CALLPLANE_TEST_PAUSE_AFTER_STEP": "deploy"}, "worker")
    run_id = await enqueue_private_run(database, settings, tenant, queue=queue, website=site.url)
    await worker.wait_for(
        lambda: "test pause point" in worker.tail(100_000), "deploy to commit", within=60
    )
    assert (await _events(tenant, run_id))["agent.version.published"] == 1  # committed

    worker.kill()
    worker.env = env  # without the pause point: the restarted worker runs `deploy` again
    worker.restart()

    run = await wait_for_workflow(tenant, run_id, within=60)
    assert run["status"] == "succeeded", (run, worker.tail())
    assert run["attempts"] == 2
    once = {
        "agent.created": 1,
        "agent.version.created": 1,
        "agent.version.published": 1,
        "sip_endpoint.deployed": 1,
        "web_widget.created": 1,
        "workflow.succeeded": 1,
    }
    assert await _events(tenant, run_id) == once
    found = await deliveries(tenant, webhook["id"])
    assert Counter(d["event_type"] for d in found if d["event_type"] in once) == once  # one send


async def _events(tenant: Tenant, run_id: str) -> Counter[str]:
    """How many times each action was recorded by the workflow run."""
    response = await tenant.get("/core/audit-events", params={"actor_id": run_id, "limit": 100})
    assert response.status_code == 200, response.text
    return Counter(event["action"] for event in response.json()["data"])
