"""The publish gate (`require_passing_tests`): a draft is published only with a passed run of
all the agent's tests at its current revision; edits racing a publish never slip through."""

from __future__ import annotations

import asyncio

from callplane.db.engine import Database
from tests.agenttests.helpers import create_test, record_run
from tests.factories import Tenant


async def gated_draft(tenant: Tenant) -> tuple[dict, dict]:
    agent = await tenant.create_agent()
    await create_test(tenant, agent["id"])
    draft = await tenant.create_version(agent["id"])
    put = await tenant.put(
        f"/core/agents/{agent['id']}/test-settings", json={"require_passing_tests": True}
    )
    assert put.status_code == 200
    return agent, draft


async def test_off_by_default(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await create_test(tenant, agent["id"])
    draft = await tenant.create_version(agent["id"])
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 200


async def test_untested_draft_is_refused_naming_the_run_to_make(tenant: Tenant) -> None:
    agent, draft = await gated_draft(tenant)
    response = await tenant.publish(agent["id"], draft["version"])
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "tests_not_passed"
    assert (
        f"POST /core/agents/{agent['id']}/versions/{draft['version']}/test-runs" in body["detail"]
    )
    version = (await tenant.get(f"/core/agents/{agent['id']}/versions/{draft['version']}")).json()
    assert version["published"] is False
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"] is None


async def test_no_tests_at_all_is_refused(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    await tenant.put(
        f"/core/agents/{agent['id']}/test-settings", json={"require_passing_tests": True}
    )
    response = await tenant.publish(agent["id"], draft["version"])
    assert response.status_code == 409 and "no tests" in response.json()["detail"]


async def test_a_passed_run_at_the_current_revision_opens_the_gate(
    tenant: Tenant, database: Database
) -> None:
    agent, draft = await gated_draft(tenant)
    failed = await record_run(database, tenant, draft["id"], status="failed")
    refused = await tenant.publish(agent["id"], draft["version"])
    assert refused.status_code == 409 and str(failed) in refused.json()["detail"]
    await record_run(database, tenant, draft["id"], all_tests=False)  # only some tests
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 409
    await record_run(database, tenant, draft["id"])
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 200
    # re-publishing (a rollback) is not gated again
    assert (await tenant.publish(agent["id"], draft["version"])).status_code == 200


async def test_an_edit_or_a_test_change_after_the_run_closes_it_again(
    tenant: Tenant, database: Database
) -> None:
    agent, draft = await gated_draft(tenant)
    await record_run(database, tenant, draft["id"])
    edited = await tenant.put(
        f"/core/agents/{agent['id']}/versions/{draft['version']}",
        json={"config": {"instructions": "Changed."}},
    )
    assert edited.status_code == 200
    refused = await tenant.publish(agent["id"], draft["version"])
    assert refused.status_code == 409 and "changed since" in refused.json()["detail"]

    await record_run(database, tenant, draft["id"])  # at the new revision
    await create_test(tenant, agent["id"], name="a new test")
    refused = await tenant.publish(agent["id"], draft["version"])
    assert refused.status_code == 409 and "tests changed" in refused.json()["detail"]


async def test_edits_racing_a_publish_never_slip_through(
    tenant: Tenant, database: Database
) -> None:
    """Each round: a passed run at the current revision, then an edit and a publish at once.
    Either the publish wins (the edit is then refused: published versions are immutable) or
    the edit wins (the publish is refused: the run no longer matches). Never both."""
    for _ in range(6):
        agent, draft = await gated_draft(tenant)
        await record_run(database, tenant, draft["id"])
        url = f"/core/agents/{agent['id']}/versions/{draft['version']}"
        edit, publish = await asyncio.gather(
            tenant.put(url, json={"config": {"instructions": "Edited meanwhile."}}),
            tenant.publish(agent["id"], draft["version"]),
        )
        assert {edit.status_code, publish.status_code} in ({200, 409}, {400, 200}), (
            edit.text,
            publish.text,
        )
        version = (await tenant.get(url)).json()
        if publish.status_code == 200:
            assert edit.status_code == 400
            assert version["published"] and version["config"]["instructions"] == "Help callers."
        else:
            assert publish.json()["code"] == "tests_not_passed"
            assert not version["published"]
            assert version["config"]["instructions"] == "Edited meanwhile."
