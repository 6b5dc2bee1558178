"""Access log lines (one per request, `callplane.access`) and workflow log lines carry the ids
an operator searches by, and never a secret."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import httpx
import orjson
import pytest

from callplane.logs import JsonFormatter
from tests.factories import Tenant
from tests.support.site import LocalSite, Reply, Route
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The captured access records as the JSON lines the service writes."""
    formatter = JsonFormatter()
    return [
        orjson.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "callplane.access"
    ]


async def test_an_authenticated_request_logs_its_org_and_credential_not_its_secret(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    agent_id = str(uuid.uuid4())
    with caplog.at_level(logging.INFO, logger="callplane.access"):
        response = await tenant.get(f"/core/agents/{agent_id}", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 404
    [line] = access_lines(caplog)
    key_id = tenant.api_key.removeprefix("ak_").split(".")[0]
    assert line["logger"] == "callplane.access" and line["level"] == "info"
    assert line["message"] == f"GET /core/agents/{agent_id} 404"
    assert line["request_id"] == "req-42" == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["route"] == "/core/agents/{agent_id}"
    assert line["path"] == f"/core/agents/{agent_id}"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["organization_id"] == str(tenant.organization_id)
    assert line["credential_id"] == str(uuid.UUID(key_id))
    secret = tenant.api_key.split(".", 1)[1]
    text = caplog.text + "".join(orjson.dumps(line).decode() for line in access_lines(caplog))
    assert secret not in text and "Bearer" not in text and "authorization" not in text.lower()


async def test_a_personal_token_logs_its_org_and_token_id(
    tenant: Tenant, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="callplane.access"):
        response = await client.get("/core/agents", headers=tenant.token_headers)
    assert response.status_code == 200
    [line] = access_lines(caplog)
    token_id = tenant.token.removeprefix("pat_").split(".")[0]
    assert line["organization_id"] == str(tenant.organization_id)
    assert line["credential_id"] == str(uuid.UUID(token_id))
    assert tenant.token.split(".", 1)[1] not in caplog.text


async def test_unauthenticated_and_refused_requests_are_logged_without_ids(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="callplane.access"):
        denied = await client.get("/core/agents", headers={"Authorization": "Bearer ak_nope.x"})
        too_big = await client.post("/core/agents", content=b"x" * (2 * 1024 * 1024))
        missing = await client.get("/nowhere")
    assert (denied.status_code, too_big.status_code, missing.status_code) == (401, 413, 404)
    lines = access_lines(caplog)
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/core/agents", 401),
        ("unmatched", 413),  # refused before routing
        ("unmatched", 404),
    ]
    for line, response in zip(lines, (denied, too_big, missing), strict=True):
        assert line["request_id"] == response.headers["x-request-id"]
        assert "organization_id" not in line and "credential_id" not in line


async def test_workflow_lines_carry_the_workflow_id_from_start_to_finish(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(
        agent["id"], config={}, instruction_builder_inputs={"company_name": "Acme"}
    )
    with caplog.at_level(logging.INFO, logger="callplane.workflows"):
        started = await tenant.post(
            f"/core/agents/{agent['id']}/versions/{draft['version']}/generate-instructions"
        )
        workflow_id = started.json()["workflow_id"]
        run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "succeeded", run
    mine = [r for r in caplog.records if getattr(r, "workflow_id", None) == workflow_id]
    messages = [r.getMessage() for r in mine]
    assert messages[0] == "workflow started" and messages[-1] == "workflow succeeded"
    assert any(m.startswith("workflow step ") for m in messages)
    for record in (mine[0], mine[-1]):
        assert record.__dict__["workflow_type"] == "generate_instructions"


async def test_a_failed_workflow_logs_why(
    tenant: Tenant, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    site = serve({"/": Reply(status=404, body="no such page")})
    with caplog.at_level(logging.INFO, logger="callplane.workflows"):
        started = await tenant.post(
            "/core/agents/create-from-website",
            json={"company_name": "Gone", "company_website": site.url},
        )
        assert started.status_code == 202, started.text
        workflow_id = started.json()["workflow_id"]
        run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "failed" and run["error"]["code"] == "nothing_to_crawl"
    [failed] = [
        r
        for r in caplog.records
        if getattr(r, "workflow_id", None) == workflow_id and r.levelno == logging.WARNING
    ]
    assert failed.getMessage() == "workflow failed: nothing_to_crawl"
    assert failed.__dict__["workflow_type"] == "create_from_website"
    assert failed.__dict__["error_code"] == "nothing_to_crawl"
