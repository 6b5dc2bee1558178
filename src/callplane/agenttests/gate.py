"""The publish gate: with the agent setting `require_passing_tests`, a version is published only
after a passed run of all the agent's tests at the version's current revision.

Called by publishing while it holds the agent's and the version's row locks: an edit of the
version (which takes the version's lock and bumps its revision) either commits before — and the
run no longer matches — or waits and then finds the version published (400). So a version is
never published with a config its tests did not see.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agenttests.errors import TestsNotPassed
from callplane.agenttests.repository import AgentTestRepository, TestRunRepository, fingerprint
from callplane.models import AgentVersion


async def check(session: AsyncSession, organization_id: uuid.UUID, version: AgentVersion) -> None:
    """Raise `TestsNotPassed` (409) when the gate is on and no passed run covers `version`."""
    tests = AgentTestRepository(session, organization_id)
    settings = await tests.settings(version.agent_id)
    if settings is None or not settings.require_passing_tests:
        return
    if version.published:
        return  # re-publishing (rollback): its config was gated when it was first published
    run_url = f"POST /core/agents/{version.agent_id}/versions/{version.version}/test-runs"
    defined = await tests.of_agent(version.agent_id)
    if not defined:
        raise TestsNotPassed(
            f"The agent requires passing tests to publish (require_passing_tests) but has no "
            f"tests: add tests with POST /core/agents/{version.agent_id}/tests, then {run_url}."
        )
    runs = TestRunRepository(session, organization_id)
    if await runs.passed(version.id, version.revision, fingerprint(defined)) is not None:
        return
    latest = await runs.latest_for(version.id)
    if latest is None:
        why = "it has never been tested"
    elif latest.revision != version.revision:
        why = f"it changed since its latest test run {latest.id} (revision {latest.revision})"
    elif latest.status != "passed":
        why = f"its latest test run {latest.id} is {latest.status}"
    else:
        why = f"the agent's tests changed since its latest test run {latest.id}"
    raise TestsNotPassed(
        f"Version {version.version} cannot be published: the agent requires passing tests "
        f"(require_passing_tests) and {why}. Run them at revision {version.revision}: "
        f"{run_url}."
    )
