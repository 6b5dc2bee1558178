"""Agent tests and their settings: writes, each in the request's transaction, with audit events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.agenttests.errors import AgentTestNotFound, TestNameTaken
from callplane.agenttests.repository import AgentTestRepository
from callplane.agenttests.schemas import (
    AgentTestCreate,
    AgentTestDefinition,
    AgentTestRead,
    TestSettings,
    TestSettingsRead,
)
from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.models import Agent, AgentTest, AgentTestSettings


def to_read(test: AgentTest) -> AgentTestRead:
    definition: dict[str, Any] = test.definition
    return AgentTestRead(
        id=test.id,
        agent_id=test.agent_id,
        name=test.name,
        description=definition.get("description"),
        turns=definition.get("turns"),
        caller=definition.get("caller"),
        expectations=definition.get("expectations", []),
        tool_mocks=definition.get("tool_mocks", {}),
        variables=definition.get("variables", {}),
        channel=definition.get("channel", "text"),
        revision=test.revision,
        created_at=test.created_at,
        updated_at=test.updated_at,
    )


def definition_of(body: AgentTestDefinition) -> dict[str, Any]:
    return AgentTestDefinition.model_validate(
        body.model_dump(exclude={"name"}), strict=False
    ).model_dump(mode="json")


class AgentTestService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.agents = AgentRepository(session, organization_id)
        self.tests = AgentTestRepository(session, organization_id)

    async def agent(self, agent_id: uuid.UUID, *, lock: bool = False) -> Agent:
        agent = await self.agents.get(agent_id, for_update=lock)
        if agent is None:
            raise AgentNotFound()
        return agent

    async def get(self, agent_id: uuid.UUID, test_id: uuid.UUID) -> AgentTest:
        test = await self.tests.get(test_id)
        if test is None or test.agent_id != agent_id:
            raise AgentTestNotFound()
        return test

    async def create(self, agent_id: uuid.UUID, body: AgentTestCreate) -> AgentTest:
        await self.agent(agent_id)
        if await self.tests.by_name(agent_id, body.name) is not None:
            raise TestNameTaken(f"The agent already has a test named {body.name!r}.")
        test = self.tests.add(
            AgentTest(agent_id=agent_id, name=body.name, definition=definition_of(body), revision=1)
        )
        await self._flush(body.name)
        await self._record("agent.test.created", test)
        return test

    async def replace(
        self, agent_id: uuid.UUID, test_id: uuid.UUID, body: AgentTestCreate
    ) -> AgentTest:
        test = await self.get(agent_id, test_id)
        if body.name != test.name and await self.tests.by_name(agent_id, body.name) is not None:
            raise TestNameTaken(f"The agent already has a test named {body.name!r}.")
        test.name = body.name
        test.definition = definition_of(body)
        test.revision += 1
        await self._flush(body.name)
        await self._record("agent.test.updated", test)
        return test

    async def delete(self, agent_id: uuid.UUID, test_id: uuid.UUID) -> None:
        test = await self.get(agent_id, test_id)
        await self._record("agent.test.deleted", test)
        await self.tests.delete(test)
        await self.session.flush()

    async def settings(self, agent_id: uuid.UUID) -> TestSettingsRead:
        await self.agent(agent_id)
        row = await self.tests.settings(agent_id)
        return TestSettingsRead(
            agent_id=agent_id, require_passing_tests=bool(row and row.require_passing_tests)
        )

    async def update_settings(self, agent_id: uuid.UUID, body: TestSettings) -> TestSettingsRead:
        await self.agent(agent_id, lock=True)
        row = await self.tests.settings(agent_id, lock=True)
        if row is None:
            row = AgentTestSettings(
                agent_id=agent_id,
                organization_id=self.organization_id,
                require_passing_tests=body.require_passing_tests,
                updated_at=utcnow(),
            )
            self.session.add(row)
        else:
            row.require_passing_tests = body.require_passing_tests
            row.updated_at = utcnow()
        await self.session.flush()
        await audit.record(
            self.session,
            self.organization_id,
            "agent.test_settings.updated",
            "agent",
            agent_id,
            {"require_passing_tests": body.require_passing_tests},
        )
        return TestSettingsRead(agent_id=agent_id, require_passing_tests=row.require_passing_tests)

    async def _flush(self, name: str) -> None:
        """A concurrent create of the same name loses on the unique constraint: 409."""
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError:
            raise TestNameTaken(f"The agent already has a test named {name!r}.") from None

    async def _record(self, action: str, test: AgentTest) -> None:
        await audit.record(
            self.session,
            self.organization_id,
            action,
            "agent_test",
            test.id,
            {"agent_id": str(test.agent_id), "name": test.name, "revision": test.revision},
        )
