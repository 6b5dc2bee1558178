from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from starlette.types import Message

from tests.factories import Tenant


async def two_versions(tenant: Tenant) -> str:
    agent = await tenant.create_agent()
    await tenant.create_version(
        agent["id"],
        config={
            "instructions": "Greet callers. Book appointments.",
            "voice": {"voice_id": "alloy"},
        },
    )
    await tenant.create_version(
        agent["id"],
        config={
            "instructions": "Greet callers. Book appointments. Never quote prices.",
            "voice": {"voice_id": "verse"},
            "tools": [
                {
                    "name": "lookup_order",
                    "description": "Find an order",
                    "actions": [{"type": "hangup"}],
                }
            ],
        },
    )
    return str(agent["id"])


async def test_diff_lists_structured_changes(tenant: Tenant) -> None:
    agent_id = await two_versions(tenant)
    response = await tenant.get(f"/core/agents/{agent_id}/versions/diff?from=1&to=latest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from_version"] == 1 and body["to_version"] == 2
    by_path = {change["path"]: change for change in body["changes"]}
    assert by_path["instructions"]["op"] == "changed"
    assert by_path["instructions"]["after"].endswith("Never quote prices.")
    assert by_path["voice.voice_id"] == {
        "path": "voice.voice_id",
        "op": "changed",
        "before": "alloy",
        "after": "verse",
    }
    assert by_path["tools[lookup_order]"]["op"] == "added"
    same = await tenant.get(f"/core/agents/{agent_id}/versions/diff?from=2&to=2")
    assert same.json()["changes"] == []


async def asgi_post(app: Any, path: str, body: bytes, headers: dict[str, str]) -> list[Message]:
    """Call the ASGI app directly and keep every message it sends: httpx's ASGI transport
    buffers whole responses, which would hide whether the body is streamed."""
    sent: list[Message] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "state": {},
    }
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_compare_streams_a_plain_language_summary(tenant: Tenant) -> None:
    agent_id = await two_versions(tenant)
    path = f"/core/agents/{agent_id}/versions/compare"
    headers = {**tenant.headers, "content-type": "application/json"}
    messages = await asgi_post(
        tenant.client.app,  # type: ignore[attr-defined]
        path,
        orjson.dumps({"from_version": 1, "to_version": 2}),
        headers,
    )
    start = messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert dict(start["headers"])[b"content-type"].startswith(b"text/plain")
    bodies = [m for m in messages[1:] if m["type"] == "http.response.body" and m.get("body")]
    assert len(bodies) >= 2  # streamed in pieces, not sent as one block
    text = b"".join(m["body"] for m in bodies).decode()
    assert "Never quote prices" in text  # what was added, not just "changed"
    assert "lookup_order" in text
    assert "verse" in text


async def test_compare_identical_versions(tenant: Tenant) -> None:
    agent_id = await two_versions(tenant)
    response = await tenant.post(
        f"/core/agents/{agent_id}/versions/compare",
        json={"from_version": 2, "to_version": "latest"},
    )
    assert response.status_code == 200 and response.text == "No differences."


async def test_unknown_versions_are_404_before_streaming(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id = await two_versions(tenant)
    url = f"/core/agents/{agent_id}/versions/compare"
    missing = await tenant.post(url, json={"from_version": 1, "to_version": 9})
    assert missing.status_code == 404 and missing.json()["code"] == "version_not_found"
    foreign = await other_tenant.post(url, json={"from_version": 1, "to_version": 2})
    assert foreign.status_code == 404
    nobody = await tenant.post(
        f"/core/agents/{uuid.uuid4()}/versions/compare", json={"from_version": 1, "to_version": 2}
    )
    assert nobody.status_code == 404 and nobody.json()["code"] == "agent_not_found"
    diff = await tenant.get(f"/core/agents/{agent_id}/versions/diff?from=1&to=7")
    assert diff.status_code == 404


async def test_bad_references_are_422(tenant: Tenant) -> None:
    agent_id = await two_versions(tenant)
    url = f"/core/agents/{agent_id}/versions/compare"
    for body in (
        {"from_version": 0, "to_version": 1},
        {"from_version": "newest", "to_version": 1},
        {"from_version": 1},
        {"from_version": 1, "to_version": 2, "extra": True},
    ):
        assert (await tenant.post(url, json=body)).status_code == 422, body
    bad = await tenant.get(f"/core/agents/{agent_id}/versions/diff?from=abc&to=1")
    assert bad.status_code == 422


async def test_latest_on_an_agent_without_versions_is_404(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    response = await tenant.post(
        f"/core/agents/{agent['id']}/versions/compare",
        json={"from_version": "latest", "to_version": "latest"},
    )
    assert response.status_code == 404
    listed = (await tenant.get(f"/core/agents/{agent['id']}/versions")).json()["data"]
    assert listed == []  # comparing never creates a draft
