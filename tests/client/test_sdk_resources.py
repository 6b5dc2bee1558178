"""The SDK's newer resources on `AsyncClient`, in-process on the app (ASGI transport): webhooks and
their deliveries, audit events, conversation import, workflow progress; a key is required."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from callplane.audit.schemas import AuditEventRead
from callplane.client import AsyncClient, CallplaneError, Client, MissingApiKey, NotFound
from callplane.conversations.schemas import ConversationImportResult
from callplane.webhooks.schemas import DeliveryRead, WebhookRead, WebhookWithSecret
from callplane.workflows.schemas import WorkflowRead
from tests.factories import Tenant
from tests.workflows.helpers import start_generation


@pytest.fixture
async def sdk(app_client: httpx.AsyncClient, tenant: Tenant) -> AsyncIterator[AsyncClient]:
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with AsyncClient("http://testserver", tenant.api_key, transport=transport) as client:
        yield client


def test_a_client_without_a_key_is_refused_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLPLANE_API_KEY", raising=False)
    for build in (Client, AsyncClient):
        with pytest.raises(MissingApiKey) as refused:
            build("http://api.test")
        message = str(refused.value)
        assert "CALLPLANE_API_KEY" in message and "api_key=" in message
        assert isinstance(refused.value, CallplaneError) and refused.value.status is None
    monkeypatch.setenv("CALLPLANE_API_KEY", "")
    with pytest.raises(MissingApiKey):
        Client("http://api.test", "")
    monkeypatch.setenv("CALLPLANE_API_KEY", "ak_from_env")
    with Client("http://api.test") as client:  # the environment's key is enough
        assert client.base_url == "http://api.test"


async def test_webhooks_deliveries_and_secrets(sdk: AsyncClient, tenant: Tenant) -> None:
    created = await sdk.webhooks.create(url="http://127.0.0.1:9/in", events=["agent.*"])
    assert isinstance(created, WebhookWithSecret) and created.secret
    assert [w.id async for w in sdk.webhooks.list()] == [created.id]
    fetched = await sdk.webhooks.get(created.id)
    assert type(fetched) is WebhookRead and fetched.url == "http://127.0.0.1:9/in"
    updated = await sdk.webhooks.update(created.id, description="CI", events=["agent.created"])
    assert (updated.description, updated.events) == ("CI", ["agent.created"])
    cleared = await sdk.webhooks.update(created.id, description=None)
    assert cleared.description is None
    rotated = await sdk.webhooks.rotate_secret(created.id)
    assert rotated.secret != created.secret

    await tenant.create_agent(name="Announced")
    (delivery,) = [d async for d in sdk.webhooks.deliveries.list(created.id)]
    assert isinstance(delivery, DeliveryRead) and delivery.event_type == "agent.created"
    assert (await sdk.webhooks.deliveries.get(created.id, delivery.id)).id == delivery.id
    again = await sdk.webhooks.deliveries.redeliver(created.id, delivery.id)
    assert again.event_id == delivery.event_id and again.id != delivery.id
    statuses = {d.status async for d in sdk.webhooks.deliveries.list(created.id, status="pending")}
    assert statuses <= {"pending"}

    await sdk.webhooks.delete(created.id)
    with pytest.raises(NotFound):
        await sdk.webhooks.get(created.id)


async def test_audit_events_filter_and_page(sdk: AsyncClient, tenant: Tenant) -> None:
    agents = [await tenant.create_agent(name=f"Audited {i}") for i in range(3)]
    events = [
        event
        async for event in sdk.audit_events.list(
            action="agent.created", created_after="2000-01-01T00:00:00Z", limit=2
        )
    ]
    assert all(isinstance(e, AuditEventRead) and e.action == "agent.created" for e in events)
    assert {a["id"] for a in agents} <= {e.resource_id for e in events}  # across pages
    (one,) = [e async for e in sdk.audit_events.list(resource_id=agents[0]["id"])]
    assert one.actor.type == "api_key"


async def test_conversations_import(sdk: AsyncClient, tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Imported")
    result = await sdk.conversations.import_(
        [{"agent_id": agent["id"], "channel": "text", "status": "completed"}]
    )
    assert isinstance(result, ConversationImportResult) and result.imported == 1
    assert (await sdk.conversations.get(result.ids[0])).agent_id is not None


async def test_wait_reports_each_change_of_progress(sdk: AsyncClient, tenant: Tenant) -> None:
    workflow_id = await start_generation(tenant)
    seen: list[WorkflowRead] = []

    async def on_progress(run: WorkflowRead) -> None:
        seen.append(run)

    run = await sdk.workflows.wait(
        workflow_id, timeout=30, poll_interval=0.01, on_progress=on_progress
    )
    assert run.status == "succeeded" and seen[-1] == run
    states = [(r.status, r.progress) for r in seen]
    assert len(states) == len(set(map(repr, states)))  # only changes are reported
    runs = [r.workflow_id async for r in sdk.workflows.list(type="generate_instructions")]
    assert workflow_id in runs


def test_sync_wait_reports_progress_once_per_change() -> None:
    def run(status: str, step: str | None, done: int) -> dict[str, object]:
        return {
            "workflow_id": "w1",
            "type": "create_demo",
            "status": status,
            "progress": {"step": step, "message": None, "completed_steps": done, "total_steps": 2},
            "result": None,
            "error": None,
            "attempts": 1,
            "created_at": "2026-01-01T00:00:00Z",
            "started_at": None,
            "finished_at": None,
        }

    polls = [run("queued", None, 0), run("running", "crawl", 0), run("running", "crawl", 0)]
    polls += [run("running", "write", 1), run("succeeded", "done", 2)]
    answers = iter(polls)
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=next(answers)))
    seen: list[str] = []
    with Client("http://api.test", "ak_test", transport=transport) as sdk:
        done = sdk.workflows.wait(
            "w1",
            poll_interval=0,
            on_progress=lambda r: seen.append(f"{r.status}:{r.progress.step}"),
        )
    assert done.status == "succeeded"
    assert seen == ["queued:None", "running:crawl", "running:write", "succeeded:done"]


async def test_rollback_request() -> None:
    """What `agents.rollback` sends, and its answer read as the server's RollbackRead."""
    requests: list[httpx.Request] = []
    body = {
        "agent_id": str(uuid.uuid4()),
        "version": 3,
        "agent_version_id": str(uuid.uuid4()),
        "previous_live_version": 4,
        "changed": [
            {
                "phone_number": "+14155550100",
                "direction": "outbound",
                "from_version": 4,
                "to_version": 3,
            }
        ],
    }

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(answer)
    async with AsyncClient("http://api.test", "ak_test", transport=transport) as sdk:
        answered = await sdk.agents.rollback("a1", to_version=3, idempotency_key="k1")
    with Client("http://api.test", "ak_test", transport=transport) as sync_sdk:
        assert sync_sdk.agents.rollback("a1", to_version=3) == answered
    assert answered.version == 3 and answered.previous_live_version == 4
    assert [(c.phone_number, c.direction) for c in answered.changed] == [
        ("+14155550100", "outbound")
    ]
    for request in requests:
        assert (request.method, request.url.path) == ("POST", "/core/agents/a1/rollback")
        assert json.loads(request.content) == {"to_version": 3}
    assert requests[0].headers["Idempotency-Key"] == "k1" and requests[1].headers["Idempotency-Key"]
