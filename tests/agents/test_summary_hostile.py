"""The agent detail's `conversation_stats` (the summary row the triggers of migration 0022 keep)
written through one process and read through another, written by two processes at once, and
around the agent's deletion: always what the conversations themselves add up to."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from callplane.config import Settings
from tests.apps import another_app
from tests.conversations.test_agent_summaries import _aggregate
from tests.factories import Tenant, mixed_conversations


async def _shown(client: httpx.AsyncClient, tenant: Tenant, agent_id: str) -> dict[str, Any]:
    response = await client.get(f"/core/agents/{agent_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["conversation_stats"])


async def _assert_exact(
    clients: tuple[httpx.AsyncClient, ...], tenant: Tenant, agent_id: str
) -> int:
    """Every process shows the aggregate of the agent's conversations (floats approximately:
    the two add in different orders); returns the total."""
    expected = await _aggregate(tenant.database, agent_id)
    expected.pop("last_conversation_at")  # compared exactly by test_agent_summaries
    shown = [await _shown(client, tenant, agent_id) for client in clients]
    for stats in shown:
        stats.pop("last_conversation_at")
        for key in ("average_duration_seconds", "total_duration_seconds"):
            assert stats.pop(key) == pytest.approx(expected[key])
        assert stats == {k: v for k, v in expected.items() if "duration" not in k}
    return int(expected["total"])


async def _start(client: httpx.AsyncClient, tenant: Tenant, agent_id: str) -> str:
    response = await client.post(
        f"/core/agents/{agent_id}/conversations", json={"version": "latest"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _end(client: httpx.AsyncClient, tenant: Tenant, conversation_id: str) -> None:
    response = await client.post(
        f"/core/conversations/{conversation_id}/end", headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def _import(client: httpx.AsyncClient, tenant: Tenant, rows: list[dict[str, Any]]) -> None:
    response = await client.post(
        "/core/conversations/import", json={"conversations": rows}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text


async def _agent(tenant: Tenant) -> str:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={"instructions": "Help."})
    return str(agent["id"])


async def test_written_in_one_process_shown_by_the_other(
    settings: Settings, tenant: Tenant
) -> None:
    agent_id = await _agent(tenant)
    async with another_app(settings) as other:
        apps = (tenant.client, other)
        assert await _assert_exact(apps, tenant, agent_id) == 0
        live = await _start(other, tenant, agent_id)
        assert await _assert_exact(apps, tenant, agent_id) == 1
        await _end(tenant.client, tenant, live)
        assert await _assert_exact(apps, tenant, agent_id) == 1
        await _import(other, tenant, mixed_conversations(agent_id))
        assert await _assert_exact(apps, tenant, agent_id) == 5
        again = await _start(tenant.client, tenant, agent_id)
        await _end(other, tenant, again)
        assert await _assert_exact(apps, tenant, agent_id) == 6


async def test_two_processes_writing_one_agent_at_once_lose_nothing(
    settings: Settings, tenant: Tenant
) -> None:
    """Each app has its own engine (on SQLite its own write serialization, so the two meet on
    the database's lock; on PostgreSQL on the summary row's)."""
    agent_id = await _agent(tenant)
    async with another_app(settings) as other:
        apps = (tenant.client, other)

        async def live(client: httpx.AsyncClient) -> None:
            await _end(client, tenant, await _start(client, tenant, agent_id))

        async def batch(client: httpx.AsyncClient, n: int) -> None:
            rows = [
                {"agent_id": agent_id, "channel": c, "status": s, "duration_seconds": n}
                for c, s in (("sms", "failed"), ("telephone", "completed"))
            ]
            await _import(client, tenant, rows)

        await asyncio.gather(
            *(live(apps[n % 2]) for n in range(6)), *(batch(apps[n % 2], n) for n in range(6))
        )
        assert await _assert_exact(apps, tenant, agent_id) == 18


async def test_a_deleted_agents_conversations_stay_out_of_every_other_summary(
    settings: Settings, tenant: Tenant
) -> None:
    """The agent goes, its conversations stay (without a foreign key): one still live ends
    afterwards, through the other process, and another agent's summary does not move."""
    doomed, kept = await _agent(tenant), await _agent(tenant)
    await tenant.import_conversation(kept)
    async with another_app(settings) as other:
        apps = (tenant.client, other)
        await _import(other, tenant, mixed_conversations(doomed))
        live = await _start(tenant.client, tenant, doomed)
        assert await _assert_exact(apps, tenant, doomed) == 5
        deleted = await other.delete(f"/core/agents/{doomed}", headers=tenant.headers)
        assert deleted.status_code == 204, deleted.text
        for client in apps:
            gone = await client.get(f"/core/agents/{doomed}", headers=tenant.headers)
            assert gone.status_code == 404
        ended = await other.post(f"/core/conversations/{live}/end", headers=tenant.headers)
        assert ended.status_code in (200, 404, 409), ended.text
        kept_again = await _agent(tenant)
        await _import(other, tenant, mixed_conversations(kept_again))
        assert await _assert_exact(apps, tenant, kept) == 1
        assert await _assert_exact(apps, tenant, kept_again) == 4
