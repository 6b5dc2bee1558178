"""Shared by the agent-test tests: test bodies, and runs recorded directly (for the gate)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from callplane.agenttests.repository import fingerprint
from callplane.db.engine import Database
from callplane.db.types import new_id, utcnow
from callplane.models import AgentTest, AgentVersion, TestRun
from tests.factories import Tenant


def scripted(name: str = "books a cleaning", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "turns": ["Hi, I need a cleaning."],
        "expectations": [{"type": "reply_contains", "text": "cleaning"}],
        **extra,
    }


async def create_test(tenant: Tenant, agent_id: str, **body: Any) -> dict[str, Any]:
    response = await tenant.post(f"/core/agents/{agent_id}/tests", json=scripted(**body))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def record_run(
    database: Database,
    tenant: Tenant,
    version_id: str,
    *,
    status: str = "passed",
    revision: int | None = None,
    all_tests: bool = True,
) -> uuid.UUID:
    """A finished run of the version's agent's current tests, as the runner records one."""
    async with database.session(write=True) as session, session.begin():
        version = (
            await session.scalars(
                select(AgentVersion).where(AgentVersion.id == uuid.UUID(version_id))
            )
        ).one()
        tests = (
            await session.scalars(select(AgentTest).where(AgentTest.agent_id == version.agent_id))
        ).all()
        run = TestRun(
            id=new_id(),
            organization_id=tenant.organization_id,
            agent_id=version.agent_id,
            agent_version_id=version.id,
            version=version.version,
            revision=version.revision if revision is None else revision,
            workflow_id=f"test-{uuid.uuid4()}",
            all_tests=all_tests,
            tests_fingerprint=fingerprint(tests),
            test_ids=[str(t.id) for t in tests],
            status=status,
            finished_at=utcnow(),
        )
        session.add(run)
    return run.id
