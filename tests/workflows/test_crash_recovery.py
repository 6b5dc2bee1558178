"""A worker process killed (`kill -9`) in the middle of a workflow resumes it after a restart,
without repeating finished steps and without creating anything twice — on both databases.

The worker is the real `callplane worker` command in a subprocess, on its own queue so the test
process's in-process engine never touches this run. The LLM stub hangs on the first request, so
the kill lands while the `write` step is in flight, after `crawl` and `knowledge` finished.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dbos import DBOSClient

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.models import WorkflowRun
from callplane.workflows.engine import system_database_url
from tests.crawler.site import LocalSite, Route
from tests.factories import Tenant
from tests.llm.stub_server import StubBehaviour, StubLLMServer
from tests.scaffolding.conftest import dental_site
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    server = StubLLMServer(
        behaviour=StubBehaviour(reply="Answer callers of Acme Dental.", hang=True)
    )
    server.start()
    yield server
    server.stop()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-c", "from callplane.cli import main; main()", "worker"],
        env=env,
        stdout=handle,
        stderr=handle,
    )


async def wait_until(condition: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_killed_worker_resumes_without_repeating_steps(
    tenant: Tenant,
    settings: Settings,
    database: Database,
    serve: Serve,
    stub: StubLLMServer,
    tmp_path: Path,
) -> None:
    site = serve(dental_site())
    suffix = uuid.uuid4().hex[:8]
    queue = f"crash-{suffix}"
    env = {
        **os.environ,
        "CALLPLANE_ENV": "test",
        "CALLPLANE_DATABASE_URL": settings.database_url,
        "CALLPLANE_WORKFLOW_QUEUE": queue,
        "CALLPLANE_WORKFLOW_EXECUTOR_ID": f"crash-worker-{suffix}",
        "CALLPLANE_LLM_BASE_URL": stub.base_url,
        "CALLPLANE_LLM_TIMEOUT_SECONDS": "60",
        "CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS": "true",
        "CALLPLANE_LOG_LEVEL": "INFO",
    }
    run_id = str(uuid.uuid4())
    async with database.session(write=True) as session, session.begin():
        # Recorded as running so neither process's sweep re-enqueues it on the default queue.
        session.add(
            WorkflowRun(
                id=run_id,
                organization_id=tenant.organization_id,
                type="create_from_website",
                status="running",
                input={"company_name": "Acme Dental", "website": site.url},
                progress={"completed_steps": 0, "total_steps": 5},
                attempts=0,
            )
        )
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        client = DBOSClient(
            system_database_url=system_database_url(settings), application_name="callplane"
        )
        await client.enqueue_async(
            {"queue_name": queue, "workflow_name": "create_from_website", "workflow_id": run_id},
            run_id,
        )
        try:
            await wait_until(lambda: len(stub.requests) == 1, "the write step to reach the model")
        except AssertionError:
            raise AssertionError(log.read_text()[-4000:]) from None
        assert site.page_hits()["/"] == 1

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        stub.behaviour.hang = False
        worker = start_worker(env, log)  # same executor id: it recovers the workflow

        run = await wait_for_workflow(tenant, run_id, within=60)
        assert run["status"] == "succeeded", (run, log.read_text()[-3000:])
        assert run["attempts"] == 2
        client.destroy()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()

    assert site.page_hits()["/"] == 1  # the finished crawl step was not run again
    assert len(stub.requests) == 2  # the unfinished write step was
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
