from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from callplane.sip.service import SipService
from callplane.workflows.tracking import StepFailed
from tests.factories import Tenant
from tests.scaffolding.conftest import dental_site
from tests.support.processes import free_port
from tests.support.site import LocalSite, Route
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]


async def start(tenant: Tenant, **body: Any) -> str:
    response = await tenant.post("/core/agents/create-from-website", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["workflow_id"])


async def test_builds_publishes_and_deploys_an_agent(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    workflow_id = await start(
        tenant,
        company_name="Acme Dental",
        company_website=site.url,
        voice_id="verse",
        avatar_url="https://cdn.acme-dental.test/logo.png",
    )
    run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "succeeded", run
    assert run["type"] == "create_from_website"
    assert run["progress"] == {
        "step": "done",
        "message": "Done",
        "completed_steps": 5,
        "total_steps": 5,
    }
    result = run["result"]
    agent_id = result["agent_id"]
    assert result["version"] == 1
    assert result["sip_uri"] == f"sip:{agent_id}@sip.test.local"

    detail = (await tenant.get(f"/core/agents/{agent_id}")).json()
    assert detail["name"] == "Acme Dental" and detail["live_version"] == 1
    assert detail["metadata"]["website"].startswith(site.url)
    assert detail["sip_endpoint"]["enabled"] is True
    assert [w["id"] for w in detail["widgets"]] == [result["widget_id"]]
    widget = detail["widgets"][0]
    assert widget["published"] is True and widget["domains"] == ["127.0.0.1"]
    assert widget["config"]["avatar_url"] == "https://cdn.acme-dental.test/logo.png"

    version = (await tenant.get(f"/core/agents/{agent_id}/versions/1")).json()
    config = version["config"]
    assert version["published"] is True
    assert "Acme Dental" in config["instructions"]
    assert "Teeth cleaning" in config["instructions"]
    assert "09:00" in config["instructions"]
    assert config["starting_message"] and "Acme Dental" in config["starting_message"]
    assert config["voice"]["voice_id"] == "verse"
    assert config["knowledge_bases"] == [{"collection_id": result["collection_id"], "top_n": 5}]

    collection = await tenant.get(f"/core/knowledge-collections/{result['collection_id']}")
    assert collection.status_code == 200
    urls = sorted(d["url"] for d in collection.json()["documents"])
    assert urls == [f"{site.url}/", f"{site.url}/contact", f"{site.url}/services"]
    assert any("emergency care" in d["content"] for d in collection.json()["documents"])
    # The crawled pages were cut into passages and indexed as they were stored.
    search = await tenant.post(
        f"/core/knowledge-collections/{result['collection_id']}/search",
        json={"query": "same-day emergency appointments?"},
    )
    assert search.status_code == 200, search.text
    assert search.json()["results"][0]["url"] == f"{site.url}/services"


async def test_skip_deployment_leaves_a_draft(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    workflow_id = await start(
        tenant,
        company_name="Acme",
        company_website=site.url,
        skip_deployment=True,
        is_demo=True,
        demo_type="receptionist",
    )
    run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "succeeded", run
    assert run["progress"]["total_steps"] == 4
    assert "sip_uri" not in run["result"] and "widget_id" not in run["result"]
    detail = (await tenant.get(f"/core/agents/{run['result']['agent_id']}")).json()
    assert detail["is_demo"] is True and detail["live_version"] is None
    assert detail["metadata"]["demo_type"] == "receptionist"
    assert detail["widgets"] == [] and detail["sip_endpoint"]["enabled"] is False
    assert [v["published"] for v in detail["versions"]] == [False]


async def test_existing_agent_and_collection_are_extended(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    agent, _ = await tenant.published_agent()
    first = await wait_for_workflow(
        tenant,
        await start(tenant, company_name="Acme", company_website=site.url, skip_deployment=True),
    )
    collection_id = first["result"]["collection_id"]
    run = await wait_for_workflow(
        tenant,
        await start(
            tenant,
            company_name="Acme",
            company_website=site.url,
            existing_agent_id=agent["id"],
            existing_collection_id=collection_id,
        ),
    )
    assert run["status"] == "succeeded", run
    assert run["result"]["agent_id"] == agent["id"] and run["result"]["version"] == 2
    assert run["result"]["collection_id"] == collection_id
    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    assert detail["live_version"] == 2
    documents = (await tenant.get(f"/core/knowledge-collections/{collection_id}")).json()
    assert len(documents["documents"]) == 3  # the same pages again replace, not duplicate


async def test_unknown_existing_ids_are_404_at_request_time(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await other_tenant.create_agent()
    for body in (
        {"existing_agent_id": agent["id"]},
        {"existing_agent_id": str(uuid.uuid4())},
        {"existing_collection_id": str(uuid.uuid4())},
    ):
        response = await tenant.post(
            "/core/agents/create-from-website",
            json={"company_name": "A", "company_website": "http://127.0.0.1:9/", **body},
        )
        assert response.status_code == 404, body
    assert (await tenant.get("/core/workflows")).json()["data"] == []


async def test_bad_requests_are_422(tenant: Tenant) -> None:
    for body in (
        {"company_website": "https://a.test"},
        {"company_name": "A"},
        {"company_name": " ", "company_website": "https://a.test"},
        {"company_name": "A", "company_website": "ftp://a.test"},
        {"company_name": "A", "company_website": "https://a.test", "colour": "red"},
    ):
        response = await tenant.post("/core/agents/create-from-website", json=body)
        assert response.status_code == 422, body


async def test_an_unreachable_site_fails_cleanly(tenant: Tenant) -> None:
    workflow_id = await start(
        tenant, company_name="Gone", company_website=f"http://127.0.0.1:{free_port()}"
    )
    run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "site_unreachable"
    assert "retries" in run["error"]["message"]
    assert (await tenant.get("/core/agents")).json()["data"] == []
    assert (await tenant.get("/core/knowledge-collections")).json()["data"] == []


async def test_a_failure_after_creating_removes_what_was_made(
    tenant: Tenant, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployment fails after the agent and collection exist (fault injected into the SIP
    step): the run fails and both are removed."""

    async def broken_deploy(self: SipService, agent_id: uuid.UUID) -> None:
        raise StepFailed("sip_unavailable", "The SIP deployment failed.")

    monkeypatch.setattr(SipService, "deploy", broken_deploy)
    site = serve(dental_site())
    run = await wait_for_workflow(
        tenant, await start(tenant, company_name="Acme", company_website=site.url)
    )
    assert run["status"] == "failed"
    assert run["error"] == {"code": "sip_unavailable", "message": "The SIP deployment failed."}
    assert run["progress"]["step"] == "deploy"
    assert (await tenant.get("/core/agents")).json()["data"] == []
    assert (await tenant.get("/core/knowledge-collections")).json()["data"] == []


async def test_idempotent_retry_starts_one_workflow(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    body = {"company_name": "Acme", "company_website": site.url, "skip_deployment": True}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = await tenant.post("/core/agents/create-from-website", json=body, headers=headers)
    second = await tenant.post("/core/agents/create-from-website", json=body, headers=headers)
    assert first.json() == second.json()
    await wait_for_workflow(tenant, first.json()["workflow_id"])
    assert len((await tenant.get("/core/agents")).json()["data"]) == 1
    cancel = await tenant.post(f"/core/workflows/{first.json()['workflow_id']}/cancel")
    assert cancel.status_code == 409 and cancel.json()["code"] == "workflow_finished"
