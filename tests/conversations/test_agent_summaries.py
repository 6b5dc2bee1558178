"""The agent's conversation summary (one row per agent, kept by triggers on the running totals:
migration 0022_detailstats_summaries) stays what a direct aggregate of the agent's conversations
gives, through every way conversations are written: import, live start, end, idle expiry by the
housekeeping sweep, and the organization's deletion."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.models import AgentConversationSummary, Conversation, Organization
from callplane.ops import housekeeping
from tests.conversations.conftest import agent_with, start
from tests.factories import Tenant, mixed_conversations


async def _aggregate(database: Database, agent_id: str) -> dict[str, Any]:
    """The agent's stats computed from its conversations themselves."""
    agent = Conversation.agent_id == uuid.UUID(agent_id)
    async with database.session(write=False) as session, session.begin():
        total, duration, timed, last = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(Conversation.duration_seconds), 0.0),
                    func.count(Conversation.duration_seconds),
                    func.max(func.coalesce(Conversation.started_at, Conversation.created_at)),
                ).where(agent)
            )
        ).one()
        by: dict[str, dict[str, int]] = {}
        keys = (("by_status", Conversation.status), ("by_channel", Conversation.channel))
        for key, column in keys:
            rows = await session.execute(select(column, func.count()).where(agent).group_by(column))
            by[key] = {name: n for name, n in rows.all()}
    return {
        "total": total,
        **by,
        "average_duration_seconds": duration / timed if timed else None,
        "total_duration_seconds": duration,
        "last_conversation_at": last,
    }


async def _assert_exact(tenant: Tenant, agent_id: str) -> dict[str, Any]:
    """The detail's `conversation_stats` (read from the summary row) against the aggregate;
    floats to the last digits (the two add the same numbers in different orders)."""
    response = await tenant.get(f"/core/agents/{agent_id}")
    assert response.status_code == 200, response.text
    shown = response.json()["conversation_stats"]
    expected = await _aggregate(tenant.database, agent_id)
    last = expected.pop("last_conversation_at")
    if last is not None and isinstance(last, str):  # SQLite's max() of stored text
        last = datetime.fromisoformat(last).replace(tzinfo=UTC)
    shown_last = shown.pop("last_conversation_at")
    assert (datetime.fromisoformat(shown_last) if shown_last else None) == (
        last.replace(tzinfo=UTC) if last is not None else None
    )
    for key in ("average_duration_seconds", "total_duration_seconds"):
        assert shown.pop(key) == pytest.approx(expected.pop(key))
    assert shown == expected
    return dict(response.json()["conversation_stats"])


async def _summaries(database: Database, organization_id: uuid.UUID) -> int:
    async with database.session(write=False) as session, session.begin():
        count = await session.scalar(
            select(func.count()).where(AgentConversationSummary.organization_id == organization_id)
        )
    return int(count or 0)


async def test_every_write_path_keeps_the_summary_exact(
    tenant: Tenant, database: Database, settings: Settings
) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    empty = await _assert_exact(tenant, agent_id)
    assert empty["total"] == 0 and empty["by_status"] == {}
    assert await _summaries(database, tenant.organization_id) == 0  # none before the first

    imported = await tenant.post(
        "/core/conversations/import",
        json={"conversations": mixed_conversations(agent_id)},
    )
    assert imported.status_code == 201, imported.text
    assert (await _assert_exact(tenant, agent_id))["total"] == 4

    ending = await start(tenant, agent_id, version="latest")
    idle = await start(tenant, agent_id, version="latest")
    assert (await _assert_exact(tenant, agent_id))["by_status"]["in_progress"] == 2

    ended = await tenant.post(f"/core/conversations/{ending['id']}/end")
    assert ended.status_code == 200, ended.text
    assert (await _assert_exact(tenant, agent_id))["by_status"]["in_progress"] == 1

    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(idle["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=5))
        )
    assert (await housekeeping.prune(database, settings))["conversations_idle_ended"] >= 1
    swept = await _assert_exact(tenant, agent_id)
    assert "in_progress" not in swept["by_status"]  # the emptied group's row went: no zero
    assert swept["total"] == 6 and swept["by_status"]["abandoned"] == 1

    # Another agent's conversations stay out of this one's row.
    other, _ = await agent_with(tenant, {"instructions": "Help."})
    await tenant.import_conversation(other)
    assert (await _assert_exact(tenant, agent_id))["total"] == 6
    assert (await _assert_exact(tenant, other))["total"] == 1
    assert await _summaries(database, tenant.organization_id) == 2

    # The organization's deletion cascades to the totals: their triggers write nothing back.
    async with database.session(write=True) as session, session.begin():
        await session.execute(delete(Organization).where(Organization.id == tenant.organization_id))
    assert await _summaries(database, tenant.organization_id) == 0


async def test_concurrent_writers_of_one_agent_lose_nothing(tenant: Tenant) -> None:
    """Starts, ends and imports of several groups at once, for one agent: on PostgreSQL every
    writer locks the agent's summary row before its totals' rows and recounts after the lock,
    so none fails on a deadlock and none overwrites another's count. (The imports list their
    groups in one order: imports in different orders can deadlock on the analytics rollups,
    ADR 0021.)"""
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})

    async def live() -> None:
        started = await start(tenant, agent_id, version="latest")
        ended = await tenant.post(f"/core/conversations/{started['id']}/end")
        assert ended.status_code == 200, ended.text

    async def batch(n: int) -> None:
        groups = [("sms", "failed"), ("telephone", "completed")]
        response = await tenant.post(
            "/core/conversations/import",
            json={
                "conversations": [
                    {"agent_id": agent_id, "channel": c, "status": s, "duration_seconds": n}
                    for c, s in groups
                ]
            },
        )
        assert response.status_code == 201, response.text

    await asyncio.gather(*(live() for _ in range(12)), *(batch(n) for n in range(12)))
    shown = await _assert_exact(tenant, agent_id)
    assert shown["total"] == 36 and shown["by_status"]["completed"] == 24
