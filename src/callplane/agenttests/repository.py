from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from callplane.db.repository import OrgRepository
from callplane.kit.pagination import paginate
from callplane.models import AgentTest, AgentTestSettings, TestResult, TestRun


def fingerprint(tests: Sequence[AgentTest]) -> str:
    """Which tests, at which revisions: a run covers the tests it was made with."""
    parts = sorted(f"{test.id}:{test.revision}" for test in tests)
    return hashlib.sha256(",".join(parts).encode()).hexdigest()


class AgentTestRepository(OrgRepository[AgentTest]):
    model = AgentTest

    async def list(
        self, agent_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[AgentTest], str | None]:
        return await paginate(
            self.session,
            self.scoped().where(AgentTest.agent_id == agent_id),
            (AgentTest.created_at, AgentTest.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def of_agent(self, agent_id: uuid.UUID) -> builtins.list[AgentTest]:
        statement = self.scoped().where(AgentTest.agent_id == agent_id).order_by(AgentTest.name)
        return list((await self.session.scalars(statement)).all())

    async def by_name(self, agent_id: uuid.UUID, name: str) -> AgentTest | None:
        statement = self.scoped().where(AgentTest.agent_id == agent_id, AgentTest.name == name)
        return (await self.session.scalars(statement)).one_or_none()

    async def settings(
        self, agent_id: uuid.UUID, *, lock: bool = False
    ) -> AgentTestSettings | None:
        statement = select(AgentTestSettings).where(
            AgentTestSettings.organization_id == self.organization_id,
            AgentTestSettings.agent_id == agent_id,
        )
        if lock:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()


class TestRunRepository(OrgRepository[TestRun]):
    __test__ = False
    model = TestRun

    async def list(
        self,
        agent_id: uuid.UUID,
        *,
        version_id: uuid.UUID | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[TestRun], str | None]:
        statement = self.scoped().where(TestRun.agent_id == agent_id)
        if version_id is not None:
            statement = statement.where(TestRun.agent_version_id == version_id)
        if status is not None:
            statement = statement.where(TestRun.status == status)
        return await paginate(
            self.session,
            statement,
            (TestRun.created_at, TestRun.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def by_workflow(self, workflow_id: str) -> TestRun | None:
        statement = self.scoped().where(TestRun.workflow_id == workflow_id)
        return (await self.session.scalars(statement)).one_or_none()

    async def latest_for(self, version_id: uuid.UUID) -> TestRun | None:
        statement = (
            self.scoped()
            .where(TestRun.agent_version_id == version_id)
            .order_by(TestRun.created_at.desc(), TestRun.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def passed(
        self, version_id: uuid.UUID, revision: int, tests_fingerprint: str
    ) -> TestRun | None:
        statement = (
            self.scoped()
            .where(
                TestRun.agent_version_id == version_id,
                TestRun.revision == revision,
                TestRun.status == "passed",
                TestRun.all_tests.is_(True),
                TestRun.tests_fingerprint == tests_fingerprint,
            )
            .limit(1)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def results(self, run_id: uuid.UUID) -> builtins.list[TestResult]:
        statement = (
            select(TestResult)
            .where(TestResult.organization_id == self.organization_id)
            .where(TestResult.test_run_id == run_id)
            .order_by(TestResult.name)
        )
        return list((await self.session.scalars(statement)).all())
