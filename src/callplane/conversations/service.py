from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.analytics import analysis
from callplane.analytics.metrics import tool_calls
from callplane.audit import recorder as audit
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.conversations.repository import ConversationRepository
from callplane.conversations.schemas import ConversationImport, ConversationRead
from callplane.errors import UnprocessableRequest
from callplane.models import Conversation
from callplane.versions.repository import VersionRepository


def to_read(conversation: Conversation, subject: AuthSubject) -> ConversationRead:
    """Transcript, summary and metadata only for holders of conversations:read_sensitive."""
    sensitive = Scope.CONVERSATIONS_READ_SENSITIVE in subject.scopes
    return ConversationRead(
        id=conversation.id,
        agent_id=conversation.agent_id,
        agent_version_id=conversation.agent_version_id,
        channel=conversation.channel,
        direction=conversation.direction,
        status=conversation.status,
        duration_seconds=conversation.duration_seconds,
        turns=conversation.turns,
        started_at=conversation.started_at,
        ended_at=conversation.ended_at,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        ended_reason=conversation.ended_reason,
        tool_call_count=conversation.tool_call_count,
        successful=conversation.successful,
        analysis_status=conversation.analysis_status,
        expires_at=conversation.expires_at,
        sensitive_included=sensitive,
        transcript=conversation.transcript if sensitive else None,
        summary=conversation.summary if sensitive else None,
        metadata=conversation.metadata_ if sensitive else None,
        analysis=conversation.analysis if sensitive else None,
    )


class ConversationService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.conversations = ConversationRepository(session, organization_id)
        self.agents = AgentRepository(session, organization_id)
        self.versions = VersionRepository(session, organization_id)

    async def import_records(self, records: list[ConversationImport]) -> list[Conversation]:
        """All or nothing: every referenced agent and version must exist in this organization."""
        known_agents: set[uuid.UUID] = set()
        version_agents: dict[uuid.UUID, uuid.UUID | None] = {}  # one lookup per distinct version
        for record in records:
            if record.agent_id is not None and record.agent_id not in known_agents:
                if await self.agents.get(record.agent_id) is None:
                    raise AgentNotFound(f"Agent {record.agent_id} not found.")
                known_agents.add(record.agent_id)
            if record.agent_version_id is not None:
                if record.agent_version_id not in version_agents:
                    version = await self.versions.get(record.agent_version_id)
                    version_agents[record.agent_version_id] = version.agent_id if version else None
                if version_agents[record.agent_version_id] != record.agent_id:
                    raise UnprocessableRequest(
                        f"agent_version_id {record.agent_version_id} is not a version of agent "
                        f"{record.agent_id}."
                    )
        rows = [
            self.conversations.add(
                Conversation(
                    agent_id=record.agent_id,
                    agent_version_id=record.agent_version_id,
                    channel=record.channel,
                    direction=record.direction,
                    status=record.status,
                    duration_seconds=record.duration_seconds,
                    turns=record.turns,
                    started_at=record.started_at,
                    ended_at=record.ended_at,
                    transcript=(
                        [turn.model_dump(mode="json") for turn in record.transcript]
                        if record.transcript is not None
                        else None
                    ),
                    summary=record.summary,
                    metadata_=record.metadata,
                    ended_reason=record.ended_reason,
                    successful=record.successful,
                    tool_call_count=tool_calls(record.transcript),
                )
            )
            for record in records
        ]
        await self.session.flush()
        await self.conversations.count_in_stats(rows)
        analysis.schedule(self.session, self.organization_id, rows)
        await audit.record(
            self.session,
            self.organization_id,
            "conversations.imported",
            "organization",
            self.organization_id,
            {"count": len(rows), "agent_ids": sorted(str(agent) for agent in known_agents)},
        )
        return rows
