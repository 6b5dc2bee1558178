"""`/core/agents/{agent_id}/tests` (CRUD) and `/core/agents/{agent_id}/test-settings`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from callplane.agents.auth import AgentsManager, AgentsReader
from callplane.agents.errors import AgentNotFound
from callplane.agenttests.errors import AgentTestNotFound, TestNameTaken
from callplane.agenttests.schemas import (
    AgentTestCreate,
    AgentTestRead,
    TestSettings,
    TestSettingsRead,
)
from callplane.agenttests.service import AgentTestService, to_read
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page

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
async def replace_agent_test(
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
async def put_test_settings(
    agent_id: uuid.UUID, body: TestSettings, subject: AgentsManager, session: WriteSession
) -> TestSettingsRead:
    """`require_passing_tests` (default false): when true, publishing a draft needs a passed run
    of all the agent's tests at the draft's current revision (409 `tests_not_passed`)."""
    return await AgentTestService(session, subject.organization_id).update_settings(agent_id, body)
