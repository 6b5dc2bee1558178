"""The agent detail (one statement, on SQLite on the event loop's own read connection: ADR 0015)
served by two apps on one database, each write going through one of them: both serve, at once,
what the ORM assembly reads from the database, never a document from before the write."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from callplane.agents.service import AgentService
from callplane.config import Settings
from tests.apps import another_app
from tests.factories import Tenant, mixed_conversations

SIP_DOMAIN = "sip.test.local"


async def _assembled(tenant: Tenant, agent_id: str) -> Any:
    async with tenant.database.session(write=False) as session, session.begin():
        detail = await AgentService(session, tenant.organization_id).assemble_detail(
            uuid.UUID(agent_id), SIP_DOMAIN
        )
    return orjson.loads(detail.model_dump_json())


async def test_each_app_serves_the_detail_as_written_by_the_other(
    settings: Settings, tenant: Tenant
) -> None:
    agent = await tenant.create_agent(name="Front desk")
    aid = agent["id"]
    number = await tenant.register_number()  # not in the detail until a slot holds the agent
    async with another_app(settings) as other:
        apps = (tenant.client, other)
        steps: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", f"/core/agents/{aid}/versions", {"config": {"instructions": "One."}}),
            ("POST", f"/core/agents/{aid}/versions/1/publish", {"phone_numbers": [number]}),
            ("POST", f"/core/agents/{aid}/deploy-as-sip", None),
            ("POST", f"/core/agents/{aid}/versions", {"config": {"instructions": "Two."}}),
            ("POST", f"/core/agents/{aid}/versions/2/publish",
             {"phone_numbers": [number], "direction": "outbound"}),
            ("POST", "/core/conversations/import", {"conversations": mixed_conversations(aid)}),
            ("PUT", f"/core/agents/{aid}", {"name": "Reception", "active": False}),
            ("POST", f"/core/agents/{aid}/rollback", {"to_version": 1}),
            ("POST", f"/core/agents/{aid}/versions", {"config": {"instructions": "Three."}}),
            ("DELETE", f"/core/agents/{aid}/versions/3", None),
            ("DELETE", f"/core/agents/{aid}/deploy-as-sip", None),
            ("POST", f"/core/agents/{aid}/versions/1/publish",
             {"unassign_phone_numbers": [number], "direction": "both"}),
        ]  # fmt: skip
        documents: list[Any] = []
        for n, (method, url, body) in enumerate(steps):
            writer = apps[n % 2]
            written = await writer.request(method, url, json=body, headers=tenant.headers)
            assert written.status_code < 300, (url, written.text)
            expected = await _assembled(tenant, aid)
            for client in (apps[(n + 1) % 2], writer):
                response = await client.get(f"/core/agents/{aid}", headers=tenant.headers)
                assert response.status_code == 200, response.text
                assert orjson.loads(response.content) == expected, (n, method, url)
            assert not documents or expected != documents[-1]  # every step changed it
            documents.append(expected)
        gone = await other.delete(f"/core/agents/{aid}", headers=tenant.headers)
        assert gone.status_code == 204
        for client in apps:
            response = await client.get(f"/core/agents/{aid}", headers=tenant.headers)
            assert response.status_code == 404
