"""`/core/agents/{agent_id}/tests` (CRUD) and `/core/agents/{agent_id}/test-settings`."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Response

from callplane.agents.auth import AgentsManager, AgentsReader
from callplane.agents.errors import AgentNotFound
from callplane.agenttests.errors import (
    AgentTestNotFound,
    NoTestsToRun,
    TestNameTaken,
    TestRunNotFound,
)
from callplane.agenttests.runs import TestRunService, run_read
from callplane.agenttests.schemas import (
    AgentTestCreate,
    AgentTestRead,
    TestRunCreate,
    TestRunRead,
    TestSettings,
    TestSettingsRead,
)
from callplane.agenttests.service import AgentTestService, to_read
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import UnprocessableRequest, merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.versions.errors import VersionNotFound
from callplane.versions.params import VersionNumber
from callplane.workflows.errors import WorkflowEngineUnavailable
from callplane.workflows.service import derive_workflow_id

router = APIRouter(prefix="/core/agents/{agent_id}", tags=["agent tests"])


@router.get(
    "/tests",
    response_model=Page[AgentTestRead],
    responses=merge_responses(AgentNotFound, InvalidCursor),
)
async def list_agent_tests(
    agent_id: uuid.UUID,
    subject: AgentsReader,
    session: ReadSession,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[AgentTestRead]:
    service = AgentTestService(session, subject.organization_id)
    await service.agent(agent_id)
    rows, next_cursor = await service.tests.list(agent_id, limit=limit, cursor=cursor)
    return Page.of([to_read(row) for row in rows], limit, next_cursor)


@router.post(
    "/tests",
    status_code=201,
    response_model=AgentTestRead,
    responses=merge_responses(AgentNotFound, TestNameTaken),
)
async def create_agent_test(
    agent_id: uuid.UUID, body: AgentTestCreate, subject: AgentsManager, session: WriteSession
) -> AgentTestRead:
    """A test: a name, scripted user `turns` or a simulated `caller`, `expectations` (each
    reported separately in a run), and `tool_mocks` for `http_request` tools. Names are unique
    per agent (409 `test_name_taken`)."""
    test = await AgentTestService(session, subject.organization_id).create(agent_id, body)
    return to_read(test)


@router.get(
    "/tests/{test_id}",
    response_model=AgentTestRead,
    responses=merge_responses(AgentNotFound, AgentTestNotFound),
)
async def get_agent_test(
    agent_id: uuid.UUID, test_id: uuid.UUID, subject: AgentsReader, session: ReadSession
) -> AgentTestRead:
    service = AgentTestService(session, subject.organization_id)
    await service.agent(agent_id)
    return to_read(await service.get(agent_id, test_id))


@router.put(
    "/tests/{test_id}",
    response_model=AgentTestRead,
    responses=merge_responses(AgentNotFound, AgentTestNotFound, TestNameTaken),
)
async def update_agent_test(
    agent_id: uuid.UUID,
    test_id: uuid.UUID,
    body: AgentTestCreate,
    subject: AgentsManager,
    session: WriteSession,
) -> AgentTestRead:
    """Replace the test (its `revision` grows: runs made before no longer cover it)."""
    service = AgentTestService(session, subject.organization_id)
    await service.agent(agent_id)
    return to_read(await service.replace(agent_id, test_id, body))


@router.delete(
    "/tests/{test_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(AgentNotFound, AgentTestNotFound),
)
async def delete_agent_test(
    agent_id: uuid.UUID, test_id: uuid.UUID, subject: AgentsManager, session: WriteSession
) -> None:
    service = AgentTestService(session, subject.organization_id)
    await service.agent(agent_id)
    await service.delete(agent_id, test_id)


@router.get(
    "/test-settings", response_model=TestSettingsRead, responses=merge_responses(AgentNotFound)
)
async def get_test_settings(
    agent_id: uuid.UUID, subject: AgentsReader, session: ReadSession
) -> TestSettingsRead:
    return await AgentTestService(session, subject.organization_id).settings(agent_id)


@router.put(
    "/test-settings", response_model=TestSettingsRead, responses=merge_responses(AgentNotFound)
)
async def update_test_settings(
    agent_id: uuid.UUID, body: TestSettings, subject: AgentsManager, session: WriteSession
) -> TestSettingsRead:
    """`require_passing_tests` (default false): when true, publishing a draft needs a passed run
    of all the agent's tests at the draft's current revision (409 `tests_not_passed`)."""
    return await AgentTestService(session, subject.organization_id).update_settings(agent_id, body)


# --- test runs -----------------------------------------------------------------------------------

runs_router = APIRouter(prefix="/core", tags=["agent tests"])


@runs_router.post(
    "/agents/{agent_id}/versions/{version}/test-runs",
    status_code=202,
    response_model=TestRunRead,
    responses=merge_responses(
        AgentNotFound,
        VersionNotFound,
        NoTestsToRun,
        UnprocessableRequest,
        WorkflowEngineUnavailable,
    ),
)
async def start_test_run(
    agent_id: uuid.UUID,
    version: VersionNumber,
    subject: AgentsManager,
    session: WriteSession,
    request: Request,
    body: TestRunCreate | None = Body(default=None),
) -> TestRunRead:
    """Run the agent's tests (or the ones named in `tests`) against this version, drafts
    included: 202 with the run (`id`, `workflow_id`); follow it with `GET /core/test-runs/{id}`.
    The run remembers the version's revision and tests exactly the config and tests it saw."""
    names = body.tests if body is not None else None
    run = await TestRunService(session, subject.organization_id).start(
        agent_id, version, names, derive_workflow_id(request)
    )
    return run_read(run)


@runs_router.get(
    "/test-runs/{run_id}", response_model=TestRunRead, responses=merge_responses(TestRunNotFound)
)
async def get_test_run(
    run_id: uuid.UUID, subject: AgentsReader, session: ReadSession
) -> TestRunRead:
    """The run with each test's verdict, each expectation's (with what was seen), transcripts."""
    service = TestRunService(session, subject.organization_id)
    run = await service.get(run_id)
    return run_read(run, await service.runs.results(run.id))


@runs_router.get(
    "/agents/{agent_id}/test-runs",
    response_model=Page[TestRunRead],
    responses=merge_responses(AgentNotFound, InvalidCursor),
)
async def list_test_runs(
    agent_id: uuid.UUID,
    subject: AgentsReader,
    session: ReadSession,
    version: Annotated[int | None, Query(ge=1, description="Only runs of this version.")] = None,
    status: Literal["queued", "running", "passed", "failed", "error"] | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[TestRunRead]:
    """The agent's runs, newest first (without per-test results)."""
    service = TestRunService(session, subject.organization_id)
    await service.versions.agent(agent_id)
    version_id = None
    if version is not None:
        version_id = (await service.versions.get(agent_id, version)).id
    rows, next_cursor = await service.runs.list(
        agent_id, version_id=version_id, status=status, limit=limit, cursor=cursor
    )
    return Page.of([run_read(row) for row in rows], limit, next_cursor)


@runs_router.get(
    "/agents/{agent_id}/versions/{version}/test-runs",
    response_model=Page[TestRunRead],
    responses=merge_responses(AgentNotFound, VersionNotFound, InvalidCursor),
)
async def list_version_test_runs(
    agent_id: uuid.UUID,
    version: VersionNumber,
    subject: AgentsReader,
    session: ReadSession,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[TestRunRead]:
    """The version's runs, newest first (without per-test results)."""
    return await list_test_runs(
        agent_id, subject, session, version=version, status=None, limit=limit, cursor=cursor
    )
