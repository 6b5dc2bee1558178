"""What must hold in an organization's data whatever happened to the processes writing it.

Read straight from the database (not through the API), so a crash cannot hide behind a response.
Each check returns the violations it found, worded for a human; an empty list means all is well.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from callplane.db.engine import Database
from callplane.models import (
    Agent,
    AgentConversationStat,
    AgentVersion,
    Conversation,
    PhoneNumber,
    WebWidget,
)


@dataclass
class Snapshot:
    agents: dict[uuid.UUID, Agent]
    versions: list[AgentVersion]
    phones: list[PhoneNumber]
    widgets: list[WebWidget]
    conversations: list[Conversation]
    stats: list[AgentConversationStat]

    @property
    def versions_by_id(self) -> dict[uuid.UUID, AgentVersion]:
        return {v.id: v for v in self.versions}

    def numbers(self, agent_id: uuid.UUID) -> list[int]:
        return sorted(v.version for v in self.versions if v.agent_id == agent_id)


async def snapshot(database: Database, organization_id: uuid.UUID) -> Snapshot:
    async def rows(model: Any) -> list[Any]:
        statement = select(model).where(model.organization_id == organization_id)
        return list((await session.scalars(statement)).all())

    async with database.session(write=False) as session, session.begin():
        return Snapshot(
            agents={a.id: a for a in await rows(Agent)},
            versions=await rows(AgentVersion),
            phones=await rows(PhoneNumber),
            widgets=await rows(WebWidget),
            conversations=await rows(Conversation),
            stats=await rows(AgentConversationStat),
        )


def violations(data: Snapshot, deleted_drafts: Iterable[tuple[uuid.UUID, int]] = ()) -> list[str]:
    """Every invariant; `deleted_drafts` are the (agent, number) drafts anyone tried to delete,
    the only numbers allowed to be missing below an agent's newest (the service promises max + 1
    numbering under the agent's row lock, and deleting a draft may leave a hole)."""
    return [
        *_phone_slots(data),
        *_versions(data, set(deleted_drafts)),
        *_live_versions(data),
        *_widgets(data),
        *_conversation_stats(data),
    ]


def _phone_slots(data: Snapshot) -> list[str]:
    found: list[str] = []
    versions = data.versions_by_id
    for phone in data.phones:
        for slot in ("inbound", "outbound"):
            agent_id, version_id, number = (
                getattr(phone, f"{slot}_agent_id"),
                getattr(phone, f"{slot}_agent_version_id"),
                getattr(phone, f"{slot}_version"),
            )
            where = f"{phone.phone_number} {slot}"
            if agent_id is None and version_id is None and number is None:
                continue
            version = versions.get(version_id) if version_id is not None else None
            if version is None:
                found.append(f"{where}: points at no version of this org ({version_id})")
            elif agent_id not in data.agents:
                found.append(f"{where}: agent {agent_id} does not exist in this org")
            elif version.agent_id != agent_id or version.version != number:
                found.append(f"{where}: says {agent_id} v{number}, version is v{version.version}")
            elif not version.published:
                found.append(f"{where}: version {agent_id} v{number} is not published")
    return found


def _versions(data: Snapshot, deleted: set[tuple[uuid.UUID, int]]) -> list[str]:
    found: list[str] = []
    for version in data.versions:
        if version.agent_id not in data.agents:
            found.append(f"version {version.id} (v{version.version}): its agent is gone")
        if version.published and version.published_at is None:
            found.append(f"version {version.id} is published without published_at")
    for agent_id in data.agents:
        numbers = data.numbers(agent_id)
        duplicates = [n for n, count in Counter(numbers).items() if count > 1]
        if duplicates:
            found.append(f"agent {agent_id}: duplicate version numbers {duplicates}")
        if numbers and numbers[0] < 1:
            found.append(f"agent {agent_id}: version numbers below 1: {numbers}")
        holes = set(range(1, (numbers[-1] if numbers else 0) + 1)) - set(numbers)
        unexplained = sorted(n for n in holes if (agent_id, n) not in deleted)
        if unexplained:
            found.append(f"agent {agent_id}: numbers {unexplained} missing, never deleted")
    return found


def _live_versions(data: Snapshot) -> list[str]:
    found: list[str] = []
    versions = data.versions_by_id
    for agent in data.agents.values():
        if (agent.live_version_id is None) != (agent.live_version is None):
            found.append(f"agent {agent.id}: live version id and number disagree")
        if agent.live_version_id is not None:
            live = versions.get(agent.live_version_id)
            if live is None or live.agent_id != agent.id or not live.published:
                found.append(f"agent {agent.id}: live version is not a published one of its own")
            elif live.version != agent.live_version:
                found.append(f"agent {agent.id}: live v{agent.live_version} is v{live.version}")
        if agent.sip_enabled and (agent.live_version_id is None or agent.sip_deployed_at is None):
            found.append(f"agent {agent.id}: SIP deployed without a published version")
    return found


def _widgets(data: Snapshot) -> list[str]:
    found: list[str] = []
    versions = data.versions_by_id
    for widget in data.widgets:
        version = versions.get(widget.agent_version_id)
        if widget.agent_id not in data.agents:
            found.append(f"widget {widget.id}: its agent is gone")
        elif version is None or version.agent_id != widget.agent_id or not version.published:
            found.append(f"widget {widget.id}: not on a published version of its agent")
    return found


def _conversation_stats(data: Snapshot) -> list[str]:
    """The running totals equal what the conversations add up to (history outlives agents, so
    totals of a deleted agent stay too)."""
    counted: Counter[tuple[uuid.UUID, str, str]] = Counter()
    timed: Counter[tuple[uuid.UUID, str, str]] = Counter()
    for c in data.conversations:
        if c.agent_id is not None:
            counted[(c.agent_id, c.status, c.channel)] += 1
            timed[(c.agent_id, c.status, c.channel)] += c.duration_seconds is not None
    totals = {(s.agent_id, s.status, s.channel): s for s in data.stats}
    found: list[str] = []
    for group in counted.keys() | totals.keys():
        stat = totals.get(group)
        have = (stat.conversations, stat.durations_counted) if stat else (0, 0)
        if have != (counted[group], timed[group]):
            found.append(f"stats {group}: say {have}, conversations say {counted[group]}")
    return found
