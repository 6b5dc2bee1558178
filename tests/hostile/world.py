"""Hostile-input helpers: a tenant owning one of everything, a snapshot of all it can read, and
`refused`, which asserts a request got a clean 4xx fast."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import Tenant, unique_phone_number

LIMIT_SECONDS = 1.0
JSON = {"Content-Type": "application/json"}


async def timed(call: Awaitable[httpx.Response]) -> httpx.Response:
    """Await `call`; assert it answered within LIMIT_SECONDS and without a server error."""
    start = time.perf_counter()
    response = await call
    elapsed = time.perf_counter() - start
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert elapsed < LIMIT_SECONDS, f"took {elapsed:.2f}s"
    return response


async def refused(call: Awaitable[httpx.Response], *statuses: int) -> httpx.Response:
    """Await `call`; assert a 4xx (one of `statuses` when given) within LIMIT_SECONDS."""
    response = await timed(call)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    return response


@dataclass
class World:
    """A tenant owning one of everything: an agent with v1 live (on SIP, on a number's inbound
    slot, behind a published widget) and v2 a draft, and an imported conversation."""

    tenant: Tenant
    agent: dict[str, Any]
    version: dict[str, Any]
    number: str
    widget: dict[str, Any]
    conversation_id: str

    def write_targets(self) -> list[tuple[str, str]]:
        """Every write endpoint of the tenant's resources that takes a JSON object body."""
        return [(method, url) for method, url, _ in self.valid_writes()]

    def valid_writes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Each write endpoint with a body it accepts, so a test can show that only its hostile
        twist is what is refused."""
        agent = f"/core/agents/{self.agent['id']}"
        config = {"config": {"instructions": "Valid."}}
        return [
            ("POST", "/core/agents", {"name": "Valid"}),
            ("PUT", agent, {"name": "Valid"}),
            ("POST", f"{agent}/versions", config),
            ("PUT", f"{agent}/versions/2", config),
            ("POST", f"{agent}/versions/2/publish", {}),
            ("POST", f"{agent}/versions/compare", {"from_version": 1, "to_version": 2}),
            ("POST", "/core/phone-numbers", {"phone_number": unique_phone_number()}),
            ("PATCH", f"/core/phone-numbers/{self.number}", {"label": "Valid"}),
            (
                "POST",
                "/core/web-widgets",
                {"agent_id": self.agent["id"], "agent_version_id": self.version["id"]},
            ),
            ("PATCH", f"/core/web-widgets/{self.widget['id']}", {"published": False}),
            (
                "POST",
                "/core/conversations/import",
                {"conversations": [{"channel": "sms", "status": "completed"}]},
            ),
            ("POST", "/admin/organization-pats", {"name": "Valid"}),
        ]

    async def snapshot(self) -> dict[str, Any]:
        """Everything the tenant can read: any write shows up as a difference."""
        state: dict[str, Any] = {}
        lists = (
            "/core/agents",
            "/core/phone-numbers",
            "/core/web-widgets",
            "/core/conversations",
            "/admin/organization-pats",
        )
        for url in lists:
            state[url] = await self._read(url, {"limit": 100})
        # The post-conversation analysis fills these in the background, by design (agenttests).
        background = ("analysis", "analysis_status", "tool_call_count", "summary", "updated_at")
        for conversation in state["/core/conversations"]["data"]:
            for name in background:
                conversation.pop(name, None)
        for agent in state["/core/agents"]["data"]:
            url = f"/core/agents/{agent['id']}"
            state[url] = await self._read(url)
            state[f"{url}/versions"] = await self._read(f"{url}/versions", {"limit": 100})
        return state

    async def _read(self, url: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.tenant.get(url, params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def build_world(tenant: Tenant) -> World:
    agent, version = await tenant.published_agent()
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    assigned = await tenant.publish(agent["id"], 1, phone_numbers=[number])
    assert assigned.status_code == 200, assigned.text
    sip = await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")
    assert sip.status_code == 200, sip.text
    widget = await tenant.create_widget(agent["id"], version["id"])
    conversation_id = await tenant.import_conversation(agent["id"], channel="telephone")
    return World(tenant, agent, version, number, widget, conversation_id)
