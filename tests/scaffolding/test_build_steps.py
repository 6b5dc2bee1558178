"""A website build goes through the domains' services: its run input is the request as sent, the
agent it makes is announced as the API announces one, and a failed build undoes only its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from callplane.db.engine import Database
from callplane.models import WorkflowRun
from callplane.scaffolding import workflow
from callplane.scaffolding.schemas import CreateDemo, CreateFromWebsite
from callplane.sip.service import SipService
from callplane.workflows.tracking import StepFailed
from tests.factories import Tenant
from tests.scaffolding.conftest import dental_site
from tests.support.site import LocalSite, Route
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]


async def _run(database: Database, workflow_id: str) -> WorkflowRun:
    async with database.session(write=False) as session:
        run = await session.get(WorkflowRun, workflow_id)
    assert run is not None
    return run


async def test_the_run_input_is_the_request(
    tenant: Tenant, serve: Serve, database: Database
) -> None:
    site = serve(dental_site())
    body = {"company_name": "Acme", "company_website": site.url, "skip_deployment": True}
    started = await tenant.post("/core/agents/create-from-website", json=body)
    assert started.status_code == 202, started.text
    run = await _run(database, started.json()["workflow_id"])
    assert run.input == CreateFromWebsite.model_validate(body).model_dump(mode="json")
    assert workflow.request_of(run) == CreateFromWebsite.model_validate(body)
    assert (await wait_for_workflow(tenant, run.id))["status"] == "succeeded"


def test_runs_accepted_before_the_upgrade_read_back_as_their_request() -> None:
    """Their input was a spec with `website` (and `is_demo` on a demo), not the request."""
    website = WorkflowRun(
        type=workflow.FROM_WEBSITE,
        input={"company_name": "Acme", "website": "https://acme.test", "skip_deployment": True},
    )
    assert workflow.request_of(website) == CreateFromWebsite(
        company_name="Acme", company_website="https://acme.test", skip_deployment=True
    )
    demo = WorkflowRun(
        type=workflow.DEMO,
        input={
            "website": "https://acme.test",
            "instructions": None,
            "include_phone_number": True,
            "is_demo": True,
        },
    )
    assert workflow.request_of(demo) == CreateDemo(
        company_website="https://acme.test", include_phone_number=True
    )


async def test_the_agent_created_event_is_the_apis(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    body = {"company_name": "Acme", "company_website": site.url, "skip_deployment": True}
    started = await tenant.post("/core/agents/create-from-website", json=body)
    run = await wait_for_workflow(tenant, started.json()["workflow_id"])
    built = run["result"]["agent_id"]
    by_hand = (await tenant.create_agent(name="By hand"))["id"]

    async def created(agent_id: str) -> dict[str, Any]:
        events = await tenant.get(
            "/core/audit-events", params={"resource_id": agent_id, "action": "agent.created"}
        )
        assert events.status_code == 200, events.text
        [event] = events.json()["data"]
        return dict(event["changes"])

    assert await created(built) == {"name": "Acme", "active": True, "is_demo": False}
    assert (await created(by_hand)).keys() == (await created(built)).keys()


async def test_a_failed_build_on_an_existing_agent_removes_only_its_draft(
    tenant: Tenant, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_deploy(self: SipService, agent_id: uuid.UUID) -> None:
        raise StepFailed("sip_unavailable", "The SIP deployment failed.")

    monkeypatch.setattr(SipService, "deploy", broken_deploy)
    site = serve(dental_site())
    agent, _ = await tenant.published_agent()
    body = {"company_name": "Acme", "company_website": site.url, "existing_agent_id": agent["id"]}
    started = await tenant.post("/core/agents/create-from-website", json=body)
    run = await wait_for_workflow(tenant, started.json()["workflow_id"])
    assert run["status"] == "failed" and run["progress"]["step"] == "deploy"
    versions = (await tenant.get(f"/core/agents/{agent['id']}/versions")).json()["data"]
    assert [v["version"] for v in versions] == [1]  # the run's version 2 is gone, not v1
    assert (await tenant.get(f"/core/agents/{agent['id']}")).status_code == 200
