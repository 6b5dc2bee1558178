"""The test run: a durable workflow (DBOS) running a version's tests with bounded concurrency.

The run's input snapshots the version's config and the tests' definitions when the run is
accepted, so the run tests exactly the revision it records, whatever is edited meanwhile. Each
test is one checkpointed step that writes its result (once: a re-run after a crash finds it);
the last step tallies the results into the run.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select, update

from callplane.agenttests import runner
from callplane.audit import recorder as audit
from callplane.db.types import new_id, utcnow
from callplane.models import TestResult, TestRun, WorkflowRun
from callplane.workflows import engine, steps, tracking
from callplane.workflows.runtime import runtime

TYPE = "agent_test_run"  # the workflow's durable name, and the runs' `type`
CONCURRENCY = 4
_slots: dict[int, asyncio.Semaphore] = {}


def _semaphore() -> asyncio.Semaphore:
    loop = id(asyncio.get_running_loop())
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(CONCURRENCY)
    return _slots[loop]


async def begin(target: dict[str, Any]) -> dict[str, Any]:
    """Step: the run is running."""
    async with steps.transaction("begin") as session:
        await session.execute(
            update(TestRun)
            .where(TestRun.id == uuid.UUID(target["test_run_id"]), TestRun.status == "queued")
            .values(status="running", started_at=utcnow(), updated_at=utcnow())
        )
    return {}


async def run_one(target: dict[str, Any]) -> dict[str, Any]:
    """Step: run one test and record its result (unless an earlier attempt recorded it)."""
    run_id = uuid.UUID(target["test_run_id"])
    organization_id = uuid.UUID(target["organization_id"])
    test = target["test"]
    async with _semaphore():
        async with runtime().database.session(write=False) as session:
            done = await session.scalar(
                select(TestResult.status).where(
                    TestResult.test_run_id == run_id, TestResult.test_id == uuid.UUID(test["id"])
                )
            )
        if done is not None:
            return {"status": done}
        outcome = await runner.run_test(
            runtime().database,
            runtime().settings,
            organization_id,
            uuid.UUID(target["agent_id"]),
            target["config"],
            test["definition"],
        )
    async with steps.transaction("result") as session:
        exists = await session.scalar(
            select(TestResult.id).where(
                TestResult.test_run_id == run_id, TestResult.test_id == uuid.UUID(test["id"])
            )
        )
        if exists is None:
            session.add(
                TestResult(
                    id=new_id(),
                    test_run_id=run_id,
                    organization_id=organization_id,
                    test_id=uuid.UUID(test["id"]),
                    name=test["name"],
                    status=outcome["status"],
                    reason=outcome["reason"],
                    expectations=outcome["expectations"],
                    transcript=outcome["transcript"],
                    duration_seconds=outcome["duration_seconds"],
                    finished_at=utcnow(),
                )
            )
    return {"status": outcome["status"]}


async def tally(target: dict[str, Any]) -> dict[str, Any]:
    """Step: the run's verdict from its results: passed when none failed or errored."""
    run_id = uuid.UUID(target["test_run_id"])
    async with steps.transaction("tally") as session:
        statuses = list(
            await session.scalars(select(TestResult.status).where(TestResult.test_run_id == run_id))
        )
        counts = {name: statuses.count(name) for name in ("passed", "failed", "skipped", "error")}
        status = "failed" if counts["failed"] or counts["error"] else "passed"
        run = await session.get(TestRun, run_id)
        if run is None:
            return {"status": "missing"}
        run.status = status
        run.passed, run.failed = counts["passed"], counts["failed"]
        run.skipped, run.errors = counts["skipped"], counts["error"]
        run.finished_at = utcnow()
        await audit.record(
            session,
            run.organization_id,
            "agent.test_run.finished",
            "test_run",
            run.id,
            {"agent_id": str(run.agent_id), "version": run.version, "status": status, **counts},
        )
    return {"test_run_id": str(run_id), "status": status, **counts}


async def run_tests(run_id: str) -> None:
    """The workflow `TYPE` (its id is the WorkflowRun's)."""

    async def body(run: WorkflowRun) -> dict[str, Any]:
        spec = run.input
        tests = spec["tests"]
        base = {
            "test_run_id": spec["test_run_id"],
            "organization_id": str(run.organization_id),
            "agent_id": spec["agent_id"],
            "config": spec["config"],
        }
        await engine.run_step(begin, base)
        await tracking.progress(run_id, "tests", f"Running {len(tests)} test(s)", 0, len(tests))
        # Steps start in list order (their positions are their ids); the semaphore inside each
        # bounds how many conversations run at once.
        await asyncio.gather(*(engine.run_step(run_one, {**base, "test": t}) for t in tests))
        result = await engine.run_step(tally, base)
        await tracking.progress(run_id, "done", "Done", len(tests), len(tests))
        return result

    async def cleanup(run: WorkflowRun) -> None:
        async with runtime().database.session(write=True) as session, session.begin():
            await session.execute(
                update(TestRun)
                .where(TestRun.workflow_id == run.id, TestRun.status.in_(("queued", "running")))
                .values(status="error", finished_at=utcnow(), updated_at=utcnow())
            )

    await tracking.execute(run_id, body, cleanup)
