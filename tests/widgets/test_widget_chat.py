"""The public widget chat (no credential): Origin, token-bound conversations, rate limit, and
GET /widget.js. The browser side is in tests/console/test_playground_and_widget.py."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from callplane.config import Settings
from tests.apps import another_app
from tests.factories import Tenant

PUBLIC = "/core/public/web-widgets"
SITE = "https://shop.example.com"


async def _widget(tenant: Tenant, *, domains: list[str], published: bool = True) -> str:
    agent, version = await tenant.published_agent()
    response = await tenant.post(
        "/core/web-widgets",
        json={
            "agent_id": agent["id"],
            "agent_version_id": version["id"],
            "domains": domains,
            "published": published,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _events(body: str) -> list[tuple[str, Any]]:
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], orjson.loads(lines["data"])))
    return found


async def test_an_allowed_origin_starts_a_conversation_and_talks(
    tenant: Tenant, client: httpx.AsyncClient
) -> None:
    widget = await _widget(tenant, domains=["shop.example.com"])
    started = await client.post(f"{PUBLIC}/{widget}/conversations", headers={"Origin": SITE})
    assert started.status_code == 201, started.text
    assert started.headers["access-control-allow-origin"] == SITE
    body = started.json()
    conversation, token = body["conversation_id"], body["token"]

    said = await client.post(
        f"{PUBLIC}/{widget}/conversations/{conversation}/messages",
        headers={"Origin": SITE, "X-Widget-Token": token},
        json={"content": "Are you open on Sunday?"},
    )
    assert said.status_code == 200, said.text
    assert said.headers["content-type"].startswith("text/event-stream")
    events = _events(said.text)
    assert events[-1][0] == "done"
    reply = events[-1][1]["message"]["content"]
    assert reply

    shown = await client.get(
        f"{PUBLIC}/{widget}/conversations/{conversation}",
        headers={"Origin": SITE, "X-Widget-Token": token},
    )
    assert shown.json()["messages"] == [
        {"role": "user", "content": "Are you open on Sunday?"},
        {"role": "agent", "content": reply},
    ]

    recorded = await tenant.get(f"/core/conversations/{conversation}")
    assert recorded.status_code == 200
    assert recorded.json()["channel"] == "text"
    assert recorded.json()["metadata"]["widget_id"] == widget


async def test_other_origins_no_origin_and_unpublished_widgets_are_refused(
    tenant: Tenant, client: httpx.AsyncClient
) -> None:
    widget = await _widget(tenant, domains=["shop.example.com"])
    for headers in ({}, {"Origin": "https://evil.example.net"}, {"Origin": "null"}):
        refused = await client.post(f"{PUBLIC}/{widget}/conversations", headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in refused.headers
    hidden = await _widget(tenant, domains=[], published=False)
    missing = await client.post(f"{PUBLIC}/{hidden}/conversations", headers={"Origin": SITE})
    assert missing.status_code == 404
    listed = await tenant.get("/core/conversations", params={"channel": "text"})
    assert listed.json()["data"] == []


async def test_a_conversation_answers_only_to_its_token_and_its_widget(
    tenant: Tenant, client: httpx.AsyncClient
) -> None:
    widget = await _widget(tenant, domains=[])
    other = await _widget(tenant, domains=[])
    started = await client.post(f"{PUBLIC}/{widget}/conversations", headers={"Origin": SITE})
    conversation, token = started.json()["conversation_id"], started.json()["token"]
    attempts = [
        (widget, {}),
        (widget, {"X-Widget-Token": "guessed"}),
        (other, {"X-Widget-Token": token}),
    ]
    for widget_id, headers in attempts:
        answer = await client.post(
            f"{PUBLIC}/{widget_id}/conversations/{conversation}/messages",
            headers={"Origin": SITE, **headers},
            json={"content": "hello"},
        )
        assert answer.status_code == 404, (widget_id, headers)
    # A conversation the API started is not the widget's either.
    agent, _ = await tenant.published_agent()
    api_started = await tenant.post(f"/core/agents/{agent['id']}/conversations", json={})
    answer = await client.get(
        f"{PUBLIC}/{widget}/conversations/{api_started.json()['id']}",
        headers={"Origin": SITE, "X-Widget-Token": token},
    )
    assert answer.status_code == 404


async def test_the_preflight_names_the_chat_headers_for_allowed_origins_only(
    tenant: Tenant, client: httpx.AsyncClient
) -> None:
    widget = await _widget(tenant, domains=["shop.example.com"])
    path = f"{PUBLIC}/{widget}/conversations"
    allowed = await client.options(path, headers={"Origin": SITE})
    assert allowed.status_code == 204
    assert "X-Widget-Token" in allowed.headers["access-control-allow-headers"]
    assert "POST" in allowed.headers["access-control-allow-methods"]
    foreign = await client.options(path, headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in foreign.headers


async def test_the_chat_is_rate_limited_per_widget_and_client(
    tenant: Tenant, settings: Settings
) -> None:
    widget = await _widget(tenant, domains=[])
    other = await _widget(tenant, domains=[])
    async with another_app(settings, widget_rate_limit_requests=2) as limited:
        path = f"{PUBLIC}/{widget}/conversations"
        codes = [(await limited.post(path, headers={"Origin": SITE})).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        refused = await limited.post(path, headers={"Origin": SITE})
        assert refused.json()["code"] == "rate_limited"
        assert "retry-after" in {k.lower() for k in refused.headers}
        # Another widget has its own budget.
        fresh = await limited.post(f"{PUBLIC}/{other}/conversations", headers={"Origin": SITE})
        assert fresh.status_code == 201


async def test_widget_js_is_served_cacheable_and_versioned(client: httpx.AsyncClient) -> None:
    script = await client.get("/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "max-age" in script.headers["cache-control"]
    assert script.text.startswith("/*! callplane web widget ")
    assert "attachShadow" in script.text
    again = await client.get("/widget.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
