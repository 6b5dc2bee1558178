"""SIGTERM to a real `callplane worker` in the middle of a workflow: it takes no further step,
exits 0 promptly, and a worker started in its place finishes the run without repeating the
steps that had finished. The worker's own metrics listener shows what it crawled.

As in tests/workflows/test_crash_recovery.py, the worker has a queue of its own and the stub
model hangs, so the signal lands while the `write` step is in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from dbos import DBOSClient

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.models import WorkflowRun
from callplane.workflows.engine import system_database_url
from tests.crawler.site import LocalSite, Route
from tests.factories import Tenant
from tests.llm.stub_server import StubBehaviour, StubLLMServer
from tests.observability.helpers import scrape, value
from tests.scaffolding.conftest import dental_site
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]
TOKEN = "worker-metrics-token-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    server = StubLLMServer(behaviour=StubBehaviour(reply="Answer callers of Acme.", hang=True))
    server.start()
    yield server
    server.stop()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", "from callplane.cli import main; main()", "worker"],
            env=env,
            stdout=handle,
            stderr=handle,
        )


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def wait_until(condition: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {tail(log)}")
        await asyncio.sleep(0.05)


async def test_sigterm_stops_the_worker_between_steps_and_a_new_one_finishes(
    tenant: Tenant,
    settings: Settings,
    database: Database,
    serve: Serve,
    stub: StubLLMServer,
    tmp_path: Path,
) -> None:
    site = serve(dental_site())
    suffix = uuid.uuid4().hex[:8]
    queue = f"sigterm-{suffix}"
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPLANE_")}
    env |= {
        "CALLPLANE_ENV": "test",
        "CALLPLANE_DATABASE_URL": settings.database_url,
        "CALLPLANE_WORKFLOW_QUEUE": queue,
        "CALLPLANE_WORKFLOW_EXECUTOR_ID": f"sigterm-worker-{suffix}",
        "CALLPLANE_LLM_BASE_URL": stub.base_url,
        "CALLPLANE_LLM_TIMEOUT_SECONDS": "60",
        "CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS": "true",
        "CALLPLANE_LOG_LEVEL": "INFO",
        "CALLPLANE_WORKER_METRICS_PORT": str(metrics_port),
        "CALLPLANE_METRICS_TOKEN": TOKEN,
    }
    run_id = str(uuid.uuid4())
    async with database.session(write=True) as session, session.begin():
        # Recorded as running so no sweep re-enqueues it on the default queue.
        session.add(
            WorkflowRun(
                id=run_id,
                organization_id=tenant.organization_id,
                type="create_from_website",
                status="running",
                input={"company_name": "Acme", "website": site.url},
                progress={"completed_steps": 0, "total_steps": 5},
                attempts=0,
            )
        )
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    client = DBOSClient(
        system_database_url=system_database_url(settings), application_name="callplane"
    )
    try:
        await client.enqueue_async(
            {"queue_name": queue, "workflow_name": "create_from_website", "workflow_id": run_id},
            run_id,
        )
        await wait_until(lambda: len(stub.requests) == 1, "the write step to reach the model", log)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}") as metrics:
            assert (await metrics.get("/metrics")).status_code == 401
            samples = await scrape(metrics, {"Authorization": f"Bearer {TOKEN}"})
        # The dental site's three pages, fetched by this process's crawl step.
        assert value(samples, "callplane_crawler_fetches_total", outcome="ok") == 3

        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        await wait_until(lambda: b"worker stopping" in log.read_bytes(), "the worker to stop", log)
        # Let the model answer now: a worker that went on would finish the run.
        stub.behaviour.hang = False
        stub._released.set()
        assert await asyncio.to_thread(worker.wait, 30) == 0, tail(log)
        stopped_after = time.monotonic() - signalled

        run = (await tenant.get(f"/core/workflows/{run_id}")).json()
        assert run["status"] == "running" and run["progress"]["step"] == "write", run
        assert (await tenant.get("/core/agents")).json()["data"] == []

        worker = start_worker(env, log)  # a worker on the same queue finishes the run
        run = await wait_for_workflow(tenant, run_id, within=60)
        assert run["status"] == "succeeded", (run, tail(log))
    finally:
        client.destroy()
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert stopped_after < 15
    assert site.page_hits()["/"] == 1  # the finished crawl step did not run again
    assert len(stub.requests) == 2  # the interrupted write step did
    assert [a["id"] for a in (await tenant.get("/core/agents")).json()["data"]] == [
        run["result"]["agent_id"]
    ]
