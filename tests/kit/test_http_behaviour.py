"""Cross-cutting HTTP behaviour: request ids, the body limit, JSON handling, error shapes, ETags."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.factories import Tenant

MAX_BODY = 1024 * 1024
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


async def agent_count(tenant: Tenant) -> int:
    response = await tenant.get("/core/agents", params={"limit": 100})
    assert response.status_code == 200
    return len(response.json()["data"])


# Request ids


async def test_every_response_gets_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    for response in (first, second):
        assert GENERATED_ID.match(response.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "request_id", ["abc", "req-123_ABC.def:42", "0f0e6a3c-6b8f-4c4e-9d57-3c2f3c9b1a11", "x" * 128]
)
async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient, request_id: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [
        "x" * 129,
        "y" * 300,
        "has space",
        "<script>alert(1)</script>",
        "a/b",
        "semi;colon",
        "tab\tid",
    ],
)
async def test_an_insane_request_id_is_replaced(client: httpx.AsyncClient, request_id: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert GENERATED_ID.match(response.headers["x-request-id"])
    assert request_id not in response.headers["x-request-id"]


async def test_request_id_is_on_error_responses(client: httpx.AsyncClient, tenant: Tenant) -> None:
    sent = {"X-Request-ID": "trace-me"}
    responses = [
        await client.get("/no/such/route", headers=sent),
        await client.delete("/health", headers=sent),
        await client.get("/core/agents", headers=sent),
        await tenant.post("/core/agents", json={}, headers=sent),
        await tenant.post("/core/agents", content=b"x" * (MAX_BODY + 1), headers=sent),
        await tenant.get("/core/agents/not-a-uuid", headers=sent),
    ]
    assert [r.status_code for r in responses] == [404, 405, 401, 422, 413, 422]
    for response in responses:
        assert response.headers["x-request-id"] == "trace-me"


# The body limit


def oversized_agent_body(size: int) -> bytes:
    """A valid-looking JSON agent body of exactly `size` bytes."""
    head, tail = b'{"name": "Big", "description": "', b'"}'
    return head + b"d" * (size - len(head) - len(tail)) + tail


async def test_body_over_one_mib_is_413_with_content_length(tenant: Tenant) -> None:
    body = oversized_agent_body(MAX_BODY + 1)
    response = await tenant.post(
        "/core/agents", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"Request body is larger than {MAX_BODY} bytes.",
        "code": "payload_too_large",
    }
    assert GENERATED_ID.match(response.headers["x-request-id"])
    assert await agent_count(tenant) == 0


async def test_body_over_one_mib_is_413_when_chunked(tenant: Tenant) -> None:
    """Without Content-Length the limit is enforced while reading."""
    body = oversized_agent_body(MAX_BODY + 1)
    sent_chunks = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent_chunks
        for start in range(0, len(body), 64 * 1024):
            sent_chunks += 1
            yield body[start : start + 64 * 1024]

    response = await tenant.post(
        "/core/agents", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await agent_count(tenant) == 0


async def test_a_lying_content_length_is_refused_up_front(tenant: Tenant) -> None:
    """A declared size over the limit is refused without reading the body."""
    response = await tenant.put(
        "/core/agents/00000000-0000-0000-0000-000000000000",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)},
    )
    assert response.status_code == 413


async def test_body_of_exactly_one_mib_is_read(tenant: Tenant) -> None:
    """At the limit the body passes and meets validation (the description is too long)."""
    body = oversized_agent_body(MAX_BODY)
    response = await tenant.post(
        "/core/agents", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "description"]
    assert await agent_count(tenant) == 0


async def test_large_body_is_checked_before_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post("/core/agents", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413


# JSON handling


async def test_unknown_fields_are_422(tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Before")
    cases = [
        ("POST", "/core/agents", {"name": "x", "nmae": "typo"}),
        ("PUT", f"/core/agents/{agent['id']}", {"name": "After", "actve": False}),
        ("POST", "/admin/organization-pats", {"name": "k", "scope": ["agents:read"]}),
        ("POST", "/core/phone-numbers", {"phone_number": "+14155550100", "lable": "x"}),
    ]
    for method, url, body in cases:
        response = await tenant.request(method, url, json=body)
        assert response.status_code == 422, (url, response.text)
        detail = response.json()["detail"]
        assert any(error["type"] == "extra_forbidden" for error in detail), detail
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["name"] == "Before"
    assert await agent_count(tenant) == 1
    assert (await tenant.get("/core/phone-numbers")).json()["data"] == []


async def test_every_request_body_schema_forbids_unknown_fields(
    client: httpx.AsyncClient,
) -> None:
    """Checked on the published schema, so new endpoints are covered too."""
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]

    def resolve(node: dict[str, object]) -> list[dict[str, object]]:
        if "$ref" in node:
            return [components[str(node["$ref"]).rsplit("/", 1)[-1]]]
        options = node.get("anyOf") or node.get("oneOf") or []
        assert isinstance(options, list)
        return [m for option in options if option.get("type") != "null" for m in resolve(option)]

    # The validator's whole body is the config under test: an invalid one is an answer, not a 422.
    exempt = {("post", "/core/agent-config/validate")}
    checked = 0
    failures = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None or (method, path) in exempt:
                continue
            for model in resolve(body["content"]["application/json"]["schema"]):
                checked += 1
                if model.get("additionalProperties") is not False:
                    failures.append(f"{method.upper()} {path}: {model.get('title')}")
    assert failures == []
    assert checked >= 8


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": ',
        b'{"name": "x",}',
        b"{'name': 'x'}",
        b'{"name": "\xff"}',
        b"\x00\x01",
        b"NaN",
        b"",
    ],
)
async def test_malformed_json_is_4xx_and_creates_nothing(tenant: Tenant, content: bytes) -> None:
    response = await tenant.post(
        "/core/agents", content=content, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code in (400, 422)
    assert "detail" in response.json()
    assert await agent_count(tenant) == 0


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "x", "metadata": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"name": "x", "metadata": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    ],
    ids=["lists", "objects", "lists-in-metadata"],
)
async def test_deeply_nested_json_is_4xx_not_500(tenant: Tenant, content: bytes) -> None:
    response = await tenant.post(
        "/core/agents", content=content, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert await agent_count(tenant) == 0


async def test_deep_json_in_a_config_is_4xx_not_500(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    content = b'{"config": {"instructions": "hi", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
    response = await tenant.post(
        f"/core/agents/{agent['id']}/versions",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert (await tenant.get(f"/core/agents/{agent['id']}/versions")).json()["data"] == []


# Error shapes for routing errors


async def test_unknown_route_is_404_with_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/core/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}


async def test_wrong_method_is_405_with_code(client: httpx.AsyncClient) -> None:
    response = await client.patch("/core/agents")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed", "code": "method_not_allowed"}
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


# ETags


async def test_etag_header_on_agent_get_and_put(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}"
    got = await tenant.get(url)
    assert got.headers["etag"] == got.json()["etag"] == agent["etag"]
    assert re.fullmatch(r'"[^"]+"', got.headers["etag"])

    put = await tenant.put(url, json={"name": "Renamed"}, headers={"If-Match": got.headers["etag"]})
    assert put.status_code == 200
    assert put.headers["etag"] == put.json()["etag"] != got.headers["etag"]
    assert (await tenant.get(url)).headers["etag"] == put.headers["etag"]

    stale = await tenant.put(url, json={"name": "Lost"}, headers={"If-Match": got.headers["etag"]})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert (await tenant.get(url)).json()["name"] == "Renamed"
