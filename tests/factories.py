"""Factories that make real rows through the service layer, and a Tenant to call the API as."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from callplane.db.engine import Database
from callplane.knowledge.repository import CollectionRepository
from callplane.models import KnowledgeCollection
from callplane.organizations.service import OrganizationService, PlatformService

_numbers = itertools.count(random.randrange(1_000_000))


def unique_phone_number() -> str:
    """A valid, never-before-used US number (numbers are globally unique across orgs)."""
    n = next(_numbers)
    return f"+1415{200 + (n // 10_000) % 800:03d}{n % 10_000:04d}"


def mixed_conversations(agent_id: str) -> list[dict[str, object]]:
    """Four imported conversations of one agent over three channels and statuses: durations whose
    sum has no short float spelling (0.1 + 0.2), and a missed call with no duration."""
    return [
        {
            "agent_id": agent_id,
            "channel": channel,
            "status": status,
            "duration_seconds": duration,
            "started_at": f"2024-05-0{day}T10:00:00.{day}25Z",
        }
        for day, (channel, status, duration) in enumerate(
            [
                ("telephone", "completed", 0.1),
                ("telephone", "completed", 0.2),
                ("webrtc", "failed", 33.3),
                ("sms", "missed", None),
            ],
            start=1,
        )
    ]


@dataclass
class Tenant:
    """An organization and the credentials to act in it."""

    client: httpx.AsyncClient
    database: Database
    organization_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str
    api_key: str
    token: str
    _extra: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def token_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "X-Anyreach-Org": str(self.organization_id),
        }

    async def key_with(self, *scopes: str) -> dict[str, str]:
        """Headers for a new API key in this org carrying exactly `scopes`."""
        async with self.database.session(write=True) as session, session.begin():
            _, issued = await OrganizationService(session, self.organization_id).create_api_key(
                "scoped", scopes=list(scopes)
            )
        return {"Authorization": f"Bearer {issued.credential}"}

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    # Shortcuts that build common state through the public API.

    async def create_agent(self, **body: Any) -> dict[str, Any]:
        response = await self.post("/core/agents", json={"name": "Agent", **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def create_version(self, agent_id: str, **body: Any) -> dict[str, Any]:
        body = body or {"config": {"instructions": "Help callers."}}
        response = await self.post(f"/core/agents/{agent_id}/versions", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def register_number(self, number: str | None = None, **body: Any) -> str:
        number = number or unique_phone_number()
        response = await self.post("/core/phone-numbers", json={"phone_number": number, **body})
        assert response.status_code == 201, response.text
        return str(response.json()["phone_number"])

    async def publish(self, agent_id: str, version: int, **body: Any) -> httpx.Response:
        return await self.post(f"/core/agents/{agent_id}/versions/{version}/publish", json=body)

    async def published_agent(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """An agent with version 1 published; returns (agent, version)."""
        agent = await self.create_agent()
        version = await self.create_version(agent["id"])
        response = await self.publish(agent["id"], version["version"])
        assert response.status_code == 200, response.text
        return agent, version

    async def create_widget(self, agent_id: str, version_id: str) -> dict[str, Any]:
        """A published widget of the agent's version."""
        response = await self.post(
            "/core/web-widgets",
            json={"agent_id": agent_id, "agent_version_id": version_id, "published": True},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def import_conversation(self, agent_id: str, channel: str = "text") -> str:
        """One completed conversation of the agent; returns its id."""
        response = await self.post(
            "/core/conversations/import",
            json={
                "conversations": [{"agent_id": agent_id, "channel": channel, "status": "completed"}]
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["ids"][0])

    async def one_of_everything(self) -> dict[str, str]:
        """A real resource of every kind, keyed by the path parameter that names it (no API
        key: a probe that deletes it would revoke nothing of the caller's)."""
        # Nothing listens on port 9: its one delivery (of agent.created) fails; deactivated below.
        webhook = await self.post(
            "/core/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["agent.created"]}
        )
        assert webhook.status_code == 201, webhook.text
        webhook_id = webhook.json()["id"]
        agent, version = await self.published_agent()
        [delivery] = (await self.get(f"/core/webhooks/{webhook_id}/deliveries")).json()["data"]
        stopped = await self.patch(f"/core/webhooks/{webhook_id}", json={"active": False})
        assert stopped.status_code == 200
        draft = await self.create_version(
            agent["id"], config={}, instruction_builder_inputs={"company_name": "Acme"}
        )
        generation = await self.post(
            f"/core/agents/{agent['id']}/versions/{draft['version']}/generate-instructions"
        )
        assert generation.status_code == 202, generation.text
        async with self.database.session(write=True) as session, session.begin():
            collection = KnowledgeCollection(organization_id=self.organization_id, name="Docs")
            session.add(collection)
            await session.flush()
            document = await CollectionRepository(session, self.organization_id).put_document(
                collection.id, "https://docs.test/", "Docs", "Opening hours: 9 to 5."
            )
            assert document is not None
        number = await self.register_number(label="Main line")
        widget = await self.create_widget(agent["id"], version["id"])
        conversation_id = await self.import_conversation(agent["id"])
        telephony = await self.put(
            "/core/telephony/twilio",
            json={"account_sid": "AC" + "0" * 32, "auth_token": "a-test-auth-token"},
        )
        assert telephony.status_code == 200, telephony.text

        test = await self.post(
            f"/core/agents/{agent['id']}/tests",
            json={
                "name": "greets",
                "turns": ["Hi"],
                "expectations": [{"type": "max_turns", "turns": 1}],
            },
        )
        assert test.status_code == 201, test.text
        run = await self.post(f"/core/agents/{agent['id']}/versions/{version['version']}/test-runs")
        assert run.status_code == 202, run.text
        return {
            "agent_id": agent["id"],
            "version": str(version["version"]),
            "phone_number": number,
            "widget_id": widget["id"],
            "conversation_id": conversation_id,
            "workflow_id": generation.json()["workflow_id"],
            "collection_id": str(collection.id),
            "document_id": str(document.id),
            "webhook_id": webhook_id,
            "delivery_id": delivery["id"],
            "provider": "twilio",
            "test_id": test.json()["id"],
            "run_id": run.json()["id"],
        }


class TenantFactory:
    def __init__(self, database: Database, client: httpx.AsyncClient):
        self.database = database
        self.client = client

    async def create(self, role: str = "admin") -> Tenant:
        email = f"user-{uuid.uuid4().hex[:12]}@example.test"
        async with self.database.session(write=True) as session, session.begin():
            made = await PlatformService(session).bootstrap(
                "Test org", email, role=role, credential_name="test"
            )
        organization, user, key, token = made.organization, made.user, made.api_key, made.token
        return Tenant(
            self.client,
            self.database,
            organization.id,
            user.id,
            email,
            key.credential,
            token.credential,
        )
