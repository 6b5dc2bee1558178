"""Idle expiry and the longest duration: a conversation ends when next used, or when the
housekeeping sweep finds it; either way its stats move like any ending."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.models import Conversation
from callplane.ops import housekeeping
from tests.conversations.conftest import agent_with, start, transcript
from tests.factories import Tenant


async def _age(database: Database, conversation_id: str, **values: object) -> None:
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(conversation_id))
            .values(**values)
        )


async def test_an_idle_conversation_ends_when_next_used(tenant: Tenant, database: Database) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    conversation = await start(tenant, agent_id, version="latest")
    assert conversation["expires_at"] is not None
    await _age(database, conversation["id"], expires_at=utcnow() - timedelta(seconds=1))
    response = await tenant.post(
        f"/core/conversations/{conversation['id']}/messages", json={"content": "Still there?"}
    )
    assert response.status_code == 409 and response.json()["code"] == "conversation_ended"
    read = await transcript(tenant, conversation["id"])
    assert read["status"] == "abandoned" and read["ended_reason"] == "idle_timeout"
    assert read["turns"] == 0 and read["expires_at"] is None
    stats = (await tenant.get(f"/core/agents/{agent_id}")).json()["conversation_stats"]
    assert stats["by_status"] == {"abandoned": 1} and stats["total"] == 1


async def test_an_overlong_conversation_ends_as_max_duration(
    tenant: Tenant, database: Database
) -> None:
    agent_id, _ = await agent_with(
        tenant, {"instructions": "Help.", "end_call": {"max_duration_seconds": 60}}
    )
    conversation = await start(tenant, agent_id, version="latest")
    await _age(database, conversation["id"], started_at=utcnow() - timedelta(seconds=61))
    response = await tenant.post(
        f"/core/conversations/{conversation['id']}/messages", json={"content": "Hello"}
    )
    assert response.status_code == 409
    read = await transcript(tenant, conversation["id"])
    assert read["status"] == "completed" and read["ended_reason"] == "max_duration"


async def test_housekeeping_ends_idle_conversations_and_leaves_the_others(
    tenant: Tenant, database: Database, settings: Settings
) -> None:
    agent_id, _ = await agent_with(tenant, {"instructions": "Help."})
    idle = await start(tenant, agent_id, version="latest")
    active = await start(tenant, agent_id, version="latest")
    await _age(database, idle["id"], expires_at=utcnow() - timedelta(seconds=5))
    removed = await housekeeping.prune(database, settings)
    assert removed["conversations_idle_ended"] >= 1
    assert (await transcript(tenant, idle["id"]))["ended_reason"] == "idle_timeout"
    assert (await transcript(tenant, active["id"]))["status"] == "in_progress"
    stats = (await tenant.get(f"/core/agents/{agent_id}")).json()["conversation_stats"]
    assert stats["by_status"] == {"abandoned": 1, "in_progress": 1}
