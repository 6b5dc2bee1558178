"""Starting test runs and reading them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agenttests import workflow
from callplane.agenttests.errors import NoTestsToRun, TestRunNotFound
from callplane.agenttests.repository import AgentTestRepository, TestRunRepository, fingerprint
from callplane.agenttests.schemas import TestResultRead, TestRunRead
from callplane.db.types import new_id
from callplane.errors import UnprocessableRequest
from callplane.models import TestResult, TestRun
from callplane.versions.service import VersionService
from callplane.workflows.service import WorkflowService


def run_read(run: TestRun, results: list[TestResult] | None = None) -> TestRunRead:
    return TestRunRead(
        id=run.id,
        workflow_id=run.workflow_id,
        agent_id=run.agent_id,
        agent_version_id=run.agent_version_id,
        version=run.version,
        revision=run.revision,
        status=run.status,
        all_tests=run.all_tests,
        tests=len(run.test_ids),
        passed=run.passed,
        failed=run.failed,
        skipped=run.skipped,
        errors=run.errors,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        results=None
        if results is None
        else [TestResultRead.model_validate(result) for result in results],
    )


class TestRunService:
    __test__ = False

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.versions = VersionService(session, organization_id)
        self.tests = AgentTestRepository(session, organization_id)
        self.runs = TestRunRepository(session, organization_id)

    async def start(
        self, agent_id: uuid.UUID, number: int, names: list[str] | None, workflow_id: str
    ) -> TestRun:
        """Accept a run of the agent's tests (or the ones named) against version `number`
        (drafts included), snapshotting the config and the tests; the workflow starts after
        commit."""
        await self.versions.agent(agent_id)
        version = await self.versions.get(agent_id, number)
        defined = await self.tests.of_agent(agent_id)
        chosen = defined
        if names is not None:
            known = {test.name: test for test in defined}
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise UnprocessableRequest(f"The agent has no tests named {', '.join(unknown)}.")
            chosen = [known[name] for name in dict.fromkeys(names)]
        if not chosen:
            raise NoTestsToRun(
                f"The agent has no tests: add some with POST /core/agents/{agent_id}/tests."
            )
        existing = await self.runs.by_workflow(workflow_id)
        if existing is not None:
            return existing  # the same request again (Idempotency-Key)
        run_id = new_id()
        spec: dict[str, Any] = {
            "test_run_id": str(run_id),
            "agent_id": str(agent_id),
            "version": version.version,
            "config": version.config,
            "tests": [
                {
                    "id": str(t.id),
                    "name": t.name,
                    "revision": t.revision,
                    "definition": t.definition,
                }
                for t in chosen
            ],
        }
        started = await WorkflowService(self.session, self.organization_id).start(
            workflow_id=workflow_id, type_=workflow.TYPE, input_=spec, total_steps=len(chosen)
        )
        run = self.runs.add(
            TestRun(
                id=run_id,
                agent_id=agent_id,
                agent_version_id=version.id,
                version=version.version,
                revision=version.revision,
                workflow_id=started.id,
                all_tests=len(chosen) == len(defined),
                tests_fingerprint=fingerprint(chosen),
                test_ids=[str(t.id) for t in chosen],
                status="queued",
                passed=0,
                failed=0,
                skipped=0,
                errors=0,
            )
        )
        await self.session.flush()
        return run

    async def get(self, run_id: uuid.UUID) -> TestRun:
        run = await self.runs.get(run_id)
        if run is None:
            raise TestRunNotFound()
        return run
