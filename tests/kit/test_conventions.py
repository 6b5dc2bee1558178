"""Conventions API users already know: verb operation ids, ordered and described tags, a machine
code on every validation 422, and no content type on a 204."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from callplane.kit.openapi import TAGS, VERBS, name_operations
from tests.factories import Tenant

CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)*")


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }


# Operation ids


async def test_operation_ids_are_unique_camel_case_verbs(client: httpx.AsyncClient) -> None:
    found = operations(await openapi(client))
    ids = [operation["operationId"] for operation in found.values()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert CAMEL_CASE.fullmatch(operation_id), operation_id
        verb = re.match(r"[a-z]+", operation_id)
        assert verb is not None and verb.group() in VERBS, operation_id
    by_route = {route: operation["operationId"] for route, operation in found.items()}
    assert by_route[("GET", "/core/agents")] == "listAgents"
    assert by_route[("POST", "/core/agents")] == "createAgent"
    assert by_route[("GET", "/core/agents/{agent_id}")] == "getAgent"
    assert by_route[("DELETE", "/core/agents/{agent_id}")] == "deleteAgent"
    assert by_route[("GET", "/core/agents/{agent_id}/versions")] == "listAgentVersions"
    publish = ("POST", "/core/agents/{agent_id}/versions/{version}/publish")
    assert by_route[publish] == "publishAgentVersion"
    assert by_route[("GET", "/admin/organization-pats")] == "listApiKeys"
    assert by_route[("GET", "/health")] == "getHealth"


def test_a_new_route_is_named_after_its_function() -> None:
    """`rollback_agent` becomes `rollbackAgent` with nothing else to do; an explicit
    `operation_id=` wins."""
    app = FastAPI()

    @app.post("/core/agents/{agent_id}/rollback")
    async def rollback_agent(agent_id: str) -> None:
        del agent_id

    @app.get("/elsewhere", operation_id="getSomethingElse")
    async def elsewhere() -> None:
        pass

    name_operations(app)
    paths = app.openapi()["paths"]
    assert paths["/core/agents/{agent_id}/rollback"]["post"]["operationId"] == "rollbackAgent"
    assert paths["/elsewhere"]["get"]["operationId"] == "getSomethingElse"


# Tags


async def test_tags_are_ordered_agents_first_and_described(client: httpx.AsyncClient) -> None:
    schema = await openapi(client)
    declared = [tag["name"] for tag in schema["tags"]]
    assert declared == [tag["name"] for tag in TAGS]
    assert declared[:4] == ["agents", "scaffolding", "versions", "publishing"]
    assert declared[-3:] == ["audit", "admin", "operations"]
    assert all(len(tag["description"]) > 20 for tag in schema["tags"]), schema["tags"]
    used = set()
    for route, operation in operations(schema).items():
        assert len(operation["tags"]) == 1, route
        used.update(operation["tags"])
    assert used == set(declared)  # every tag is used, every used tag is declared
    publish = ("POST", "/core/agents/{agent_id}/versions/{version}/publish")
    assert operations(schema)[publish]["tags"] == ["publishing"]


# 422: FastAPI's shape, plus a machine code like every other error


def assert_validation_error(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error" and set(body) == {"detail", "code"}, body
    issues: list[dict[str, Any]] = body["detail"]
    assert issues and all(set(issue) == {"loc", "msg", "type"} for issue in issues), issues
    return issues


async def test_every_validation_422_carries_its_code(tenant: Tenant) -> None:
    [missing] = assert_validation_error(await tenant.post("/core/agents", json={}))
    assert missing["loc"] == ["body", "name"]
    [limit] = assert_validation_error(await tenant.get("/core/agents", params={"limit": 0}))
    assert limit["loc"] == ["query", "limit"]
    [path] = assert_validation_error(await tenant.get("/core/agents/not-a-uuid"))  # lean route
    assert path["loc"] == ["path", "agent_id"]
    headers = {"Content-Type": "application/json"}
    [not_utf8] = assert_validation_error(
        await tenant.post("/core/agents", content=b'{"name": "\xff"}', headers=headers)
    )
    assert not_utf8["type"] == "json_invalid"
    [duplicate] = assert_validation_error(
        await tenant.post("/core/agents", content=b'{"name": "a", "name": "b"}', headers=headers)
    )
    assert duplicate["type"] == "json_duplicate_key"


async def test_other_422s_keep_their_own_codes(tenant: Tenant) -> None:
    key = {"Idempotency-Key": "conventions-422"}
    first = await tenant.post("/core/agents", json={"name": "One"}, headers=key)
    assert first.status_code == 201
    reused = await tenant.post("/core/agents", json={"name": "Two"}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert isinstance(reused.json()["detail"], str)


async def test_the_documented_422_has_the_code(client: httpx.AsyncClient) -> None:
    schema = await openapi(client)
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components  # FastAPI's default 422, without the code
    body = components["ValidationErrorBody"]
    assert set(body["required"]) == {"detail", "code"}
    assert body["properties"]["code"]["const"] == "validation_error"
    for route, operation in operations(schema).items():
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in operation["responses"], route


# 204: no content


async def test_no_204_has_a_content_type(tenant: Tenant, client: httpx.AsyncClient) -> None:
    everything = await tenant.one_of_everything()
    agent_id, widget_id = everything["agent_id"], everything["widget_id"]
    draft = await tenant.create_version(agent_id)
    key = await tenant.post("/admin/organization-pats", json={"name": "doomed"})
    replay = {"Idempotency-Key": "conventions-204"}
    twilio = {"account_sid": "AC" + "0" * 32, "auth_token": "a-twilio-auth-token"}
    assert (await tenant.put("/core/telephony/twilio", json=twilio)).status_code == 200
    sent = {
        ("OPTIONS", "/core/public/web-widgets/{widget_id}"): await client.options(
            f"/core/public/web-widgets/{widget_id}", headers={"Origin": "https://example.com"}
        ),
        ("DELETE", "/core/agents/{agent_id}/versions/{version}"): await tenant.delete(
            f"/core/agents/{agent_id}/versions/{draft['version']}", headers=replay
        ),
        ("DELETE", "/core/agents/{agent_id}/deploy-as-sip"): await tenant.delete(
            f"/core/agents/{agent_id}/deploy-as-sip"
        ),
        ("DELETE", "/core/web-widgets/{widget_id}"): await tenant.delete(
            f"/core/web-widgets/{widget_id}"
        ),
        ("DELETE", "/core/webhooks/{webhook_id}"): await tenant.delete(
            f"/core/webhooks/{everything['webhook_id']}"
        ),
        ("DELETE", "/admin/organization-pats/{key_id}"): await tenant.delete(
            f"/admin/organization-pats/{key.json()['key_id']}"
        ),
        ("DELETE", "/core/agents/{agent_id}/tests/{test_id}"): await tenant.delete(
            f"/core/agents/{agent_id}/tests/{everything['test_id']}"
        ),
        ("DELETE", "/core/agents/{agent_id}"): await tenant.delete(f"/core/agents/{agent_id}"),
        ("DELETE", "/core/phone-numbers/{phone_number}"): await tenant.delete(
            f"/core/phone-numbers/{everything['phone_number']}"
        ),
        ("DELETE", "/core/telephony/{provider}"): await tenant.delete("/core/telephony/twilio"),
        ("DELETE", "/core/knowledge-collections/{collection_id}/documents/{document_id}"): (
            await tenant.delete(
                f"/core/knowledge-collections/{everything['collection_id']}"
                f"/documents/{everything['document_id']}"
            )
        ),
        ("DELETE", "/core/knowledge-collections/{collection_id}"): await tenant.delete(
            f"/core/knowledge-collections/{everything['collection_id']}"
        ),
    }
    replayed = await tenant.delete(
        f"/core/agents/{agent_id}/versions/{draft['version']}", headers=replay
    )
    assert replayed.headers.get("idempotent-replayed") == "true"
    documented = {
        route
        for route, operation in operations(await openapi(client)).items()
        if "204" in operation["responses"]
    }
    assert set(sent) == documented  # a new 204 route belongs here
    for route, response in [*sent.items(), (("replay", ""), replayed)]:
        assert response.status_code == 204, (route, response.text)
        assert "content-type" not in response.headers, (route, response.headers)
        assert "content-length" not in response.headers and response.content == b"", route
