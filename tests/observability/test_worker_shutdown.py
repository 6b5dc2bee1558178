"""SIGTERM to a real `callplane worker` in the middle of a workflow step that cannot finish in
the engine's grace period: it exits 0 promptly, and a worker started in its place finishes the
run without repeating the steps that had finished. The worker's own metrics listener shows
what it crawled.

As in tests/workflows/test_crash_recovery.py, the worker has a queue of its own and the stub
model hangs, so the signal lands while the `write` step is in flight.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import httpx

from callplane.config import Settings
from callplane.db.engine import Database
from tests.factories import Tenant
from tests.observability.helpers import scrape, value
from tests.scaffolding.conftest import dental_site
from tests.support.llm_stub import StubLLMServer
from tests.support.processes import Processes, Serve, free_port, process_env
from tests.workflows.helpers import enqueue_private_run, wait_for_workflow

TOKEN = "worker-metrics-token-0123"


async def test_sigterm_stops_the_worker_between_steps_and_a_new_one_finishes(
    tenant: Tenant,
    settings: Settings,
    database: Database,
    serve: Serve,
    hanging_llm: StubLLMServer,
    processes: Processes,
) -> None:
    site = serve(dental_site())
    suffix = uuid.uuid4().hex[:8]
    queue = f"sigterm-{suffix}"
    metrics_port = free_port()
    env = process_env(
        settings,
        CALLPLANE_WORKFLOW_QUEUE=queue,
        CALLPLANE_WORKFLOW_EXECUTOR_ID=f"sigterm-worker-{suffix}",
        CALLPLANE_LLM_BASE_URL=hanging_llm.base_url,
        CALLPLANE_LLM_TIMEOUT_SECONDS="60",
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
        CALLPLANE_WORKER_METRICS_PORT=str(metrics_port),
        CALLPLANE_METRICS_TOKEN=TOKEN,
    )
    worker = processes.worker(env, "worker")
    run_id = await enqueue_private_run(database, settings, tenant, queue=queue, website=site.url)
    await worker.wait_for(
        lambda: len(hanging_llm.requests) == 1, "the write step to reach the model"
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}") as metrics:
        assert (await metrics.get("/metrics")).status_code == 401
        samples = await scrape(metrics, {"Authorization": f"Bearer {TOKEN}"})
    # The dental site's three pages, fetched by this process's crawl step.
    assert value(samples, "callplane_crawler_fetches_total", outcome="ok") == 3

    signalled = time.monotonic()
    worker.popen.send_signal(signal.SIGTERM)
    await worker.wait_for(lambda: "worker stopping" in worker.tail(100_000), "the worker to stop")
    # The model still holds its answer: the step cannot finish in the engine's grace period
    # (tests/workflows/test_stop.py: the loop runs on meanwhile), so the worker cuts it off.
    assert await asyncio.to_thread(worker.popen.wait, 30) == 0, worker.tail()
    stopped_after = time.monotonic() - signalled
    hanging_llm.behaviour.hang = False
    hanging_llm._released.set()

    run = (await tenant.get(f"/core/workflows/{run_id}")).json()
    assert run["status"] == "running" and run["progress"]["step"] == "write", run
    assert (await tenant.get("/core/agents")).json()["data"] == []

    worker.restart()  # a worker on the same queue finishes the run
    run = await wait_for_workflow(tenant, run_id, within=60)
    assert run["status"] == "succeeded", (run, worker.tail())
    assert stopped_after < 15
    assert site.page_hits()["/"] == 1  # the finished crawl step did not run again
    assert len(hanging_llm.requests) == 2  # the interrupted write step did
    assert [a["id"] for a in (await tenant.get("/core/agents")).json()["data"]] == [
        run["result"]["agent_id"]
    ]
