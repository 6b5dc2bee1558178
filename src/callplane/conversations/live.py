"""Live conversations: start one on an agent version, run its turns, end it.

A turn never holds a database transaction while the model streams (SQLite has a single writer,
and a PostgreSQL connection is a scarce resource): `prepare_turn` loads the conversation in a
short read transaction and refuses bad input before anything is emitted, the engine
(callplane.runtime) runs with no session, and the turn is written in a second short transaction
*before* its `done` event leaves, so a client that saw `done` reads the turn back. Transcript
appends re-read the row under a lock (`FOR UPDATE` on PostgreSQL; SQLite's write transactions are
serialized), so concurrent turns never lose each other's entries.

Counting: a live conversation enters its agent's `conversation_stats` as `in_progress` when it
starts and moves to its final status when it ends (`uncount`, then `count_in_stats` with its
duration), in the transaction that ends it: the totals stay exact like for imported ones.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agent_config.schemas import AgentConfig
from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.analytics import analysis
from callplane.audit import recorder as audit
from callplane.conversations.errors import (
    AgentNotLive,
    ConfigNotRunnable,
    ConversationEnded,
    ConversationNotFound,
    MessageTooLong,
)
from callplane.conversations.repository import ConversationRepository, idle_conversations
from callplane.db.engine import Database
from callplane.db.session import after_commit, run_in_transaction_hooks
from callplane.db.types import utcnow
from callplane.errors import UnprocessableRequest
from callplane.llm.provider import ChatModel
from callplane.models import Agent, AgentVersion, Conversation
from callplane.runtime import prompt
from callplane.runtime.engine import OFFLINE_MODEL, Retriever, Turn, TurnDeps, WorkflowStarter
from callplane.runtime.events import Done, Event
from callplane.runtime.http import HttpCaller
from callplane.runtime.prompt import ConversationContext
from callplane.versions.errors import VersionNotFound
from callplane.versions.repository import VersionRepository

logger = logging.getLogger("callplane.conversations")

ENDED_REASONS = (
    "ended_by_user",
    "hangup",
    "cold_transfer",
    "warm_transfer",
    "end_phrase",
    "idle_timeout",
    "max_duration",
    "error",
)
# The status a conversation ends with, by reason (anything else: completed).
_FINAL_STATUS = {"idle_timeout": "abandoned", "error": "failed"}

VersionChoice = Literal["live", "latest"] | int


@dataclass
class LiveRuntime:
    """What live conversations run with in this process (built by the wiring from settings).
    `model` None means the offline responder; `retriever` builds a knowledge retriever for an
    organization (it opens its own short sessions)."""

    model: ChatModel | None
    http: HttpCaller
    idle_timeout_seconds: int = 900
    max_message_chars: int = 8000
    workflows: WorkflowStarter | None = None
    retriever: Callable[[Database, uuid.UUID], Retriever] | None = None

    def model_name(self, config: AgentConfig) -> str:
        return OFFLINE_MODEL if self.model is None else config.llm.model


@dataclass(frozen=True)
class StartedConversation:
    conversation: Conversation
    version: int
    model: str
    starting_message: str | None


def runnable_config(version: AgentVersion) -> AgentConfig:
    """The version's stored config as the engine runs it (422 when it no longer validates)."""
    try:
        return AgentConfig.model_validate(version.config)
    except ValidationError as error:
        raise ConfigNotRunnable(
            f"Version {version.version}'s config cannot run: {error.error_count()} problem(s), "
            f"first: {error.errors()[0]['msg']}."
        ) from None


async def choose_version(
    versions: VersionRepository, agent: Agent, choice: VersionChoice
) -> AgentVersion:
    """The agent's version a conversation or call runs: its live one (none: AgentNotLive), its
    newest ("latest", drafts included), or the one of that number (none: VersionNotFound)."""
    found: AgentVersion | None
    if choice == "live":
        if agent.live_version_id is None:
            raise AgentNotLive()
        found = await versions.get(agent.live_version_id)
    elif choice == "latest":
        found = await versions.newest(agent.id)
    else:
        found = await versions.get_number(agent.id, int(choice))
    if found is None:
        raise VersionNotFound()
    return found


def final_status(reason: str) -> str:
    return _FINAL_STATUS.get(reason, "completed")


class LiveConversationService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID, runtime: LiveRuntime):
        self.session = session
        self.organization_id = organization_id
        self.runtime = runtime
        self.conversations = ConversationRepository(session, organization_id)
        self.agents = AgentRepository(session, organization_id)
        self.versions = VersionRepository(session, organization_id)

    async def start(
        self,
        agent_id: uuid.UUID,
        *,
        version: VersionChoice = "live",
        channel: str = "text",
        variables: Mapping[str, str] | None = None,
        direction: str | None = None,
        caller: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> StartedConversation:
        agent = await self.agents.get(agent_id)
        if agent is None:
            raise AgentNotFound()
        chosen = await choose_version(self.versions, agent, version)
        config = runnable_config(chosen)
        conversation_id = uuid.uuid4()
        context = ConversationContext(
            conversation_id=str(conversation_id),
            agent_id=str(agent.id),
            channel=channel,
            config=config,
            variables=dict(variables or {}),
            caller=caller,
        )
        unknown = prompt.unknown_names(context)
        if unknown:
            raise UnprocessableRequest(
                "Unknown template name(s) in the instructions or starting message: "
                + ", ".join(unknown)
                + ". Pass them in `variables`."
            )
        starting = prompt.starting_message(context)
        now = utcnow()
        transcript: list[dict[str, Any]] = []
        if starting is not None:
            transcript.append({"role": "agent", "content": starting, "at": now.isoformat()})
        row = self.conversations.add(
            Conversation(
                id=conversation_id,
                agent_id=agent.id,
                agent_version_id=chosen.id,
                channel=channel,
                direction=direction,
                status="in_progress",
                turns=0,
                started_at=now,
                last_activity_at=now,
                expires_at=now + timedelta(seconds=self.runtime.idle_timeout_seconds),
                transcript=transcript,
                variables=dict(variables or {}),
                caller=caller,
                metadata_=dict(metadata or {}),
            )
        )
        await self.session.flush()
        await self.conversations.count_in_stats([row])
        await audit.record(
            self.session,
            self.organization_id,
            "conversation.started",
            "conversation",
            row.id,
            {"agent_id": str(agent.id), "version": chosen.version, "channel": channel},
        )
        if config.pre_conversation_workflow is not None:
            self._after_commit_workflow("pre", row, config, config.pre_conversation_workflow)
        return StartedConversation(row, chosen.version, self.runtime.model_name(config), starting)

    async def end(
        self, conversation_id: uuid.UUID, *, reason: str = "ended_by_user"
    ) -> Conversation:
        row = await self.conversations.get(conversation_id, for_update=True)
        if row is None:
            raise ConversationNotFound()
        if row.status != "in_progress":
            raise ConversationEnded()
        await self.finish(row, reason)
        return row

    async def finish(self, row: Conversation, reason: str, *, at: datetime | None = None) -> None:
        """End an in-progress conversation: status, duration, stats, audit, post workflow.

        The row is written (its rollup triggers run) before the agent's totals are moved, the
        order of a start and an import too: on PostgreSQL the totals lock the agent's summary
        row, and a transaction holding it must not then wait for a rollup row."""
        now = at or utcnow()
        leaving = row.status
        row.status = final_status(reason)
        row.ended_reason = reason
        row.ended_at = now
        row.expires_at = None
        started = row.started_at or row.created_at
        row.duration_seconds = max(0.0, (now - started).total_seconds())
        await self.session.flush()
        await self.conversations.uncount(row, leaving)
        await self.conversations.count_in_stats([row])
        await audit.record(
            self.session,
            self.organization_id,
            "conversation.ended",
            "conversation",
            row.id,
            {"agent_id": str(row.agent_id), "reason": reason, "status": row.status},
        )
        analysis.schedule(self.session, self.organization_id, [row])  # agenttests: analysis
        version = await self.versions.get(row.agent_version_id) if row.agent_version_id else None
        if version is not None:
            try:
                config = AgentConfig.model_validate(version.config)
            except ValidationError:
                return
            if config.post_conversation_workflow is not None:
                self._after_commit_workflow("post", row, config, config.post_conversation_workflow)

    def _after_commit_workflow(
        self, kind: str, row: Conversation, config: AgentConfig, target: Any
    ) -> None:
        """Start the pre/post conversation workflow once the transaction is durable (a
        deterministic id: starting it twice is a no-op)."""
        starter = self.runtime.workflows
        if starter is None:
            return
        payload = {
            "event": f"conversation.{'started' if kind == 'pre' else 'ended'}",
            "conversation_id": str(row.id),
            "agent_id": str(row.agent_id),
            "agent_version_id": str(row.agent_version_id),
            "channel": row.channel,
            "status": row.status,
            "ended_reason": row.ended_reason,
            "variables": row.variables or {},
            "caller": row.caller,
            "transcript": list(row.transcript or []),
        }
        workflow_id = f"conversation-{row.id}-{kind}"

        async def start() -> None:
            try:
                await starter.start(workflow_id, target, payload)
            except Exception:  # the conversation goes on; the failure is logged
                logger.exception("could not start a conversation workflow")

        after_commit(self.session, start)


# --- turns --------------------------------------------------------------------------------------


@dataclass
class PreparedTurn:
    """A validated turn, ready to run: `events()` runs it and writes it."""

    database: Database
    runtime: LiveRuntime
    organization_id: uuid.UUID
    conversation_id: uuid.UUID
    turn: Turn
    content: str
    idempotency_key: str | None = None
    persisted: bool = field(default=False)
    # Called inside the transaction that writes the turn (the endpoint marks its
    # Idempotency-Key committed there: the turn and the mark commit together).
    on_persist: Callable[[AsyncSession], Awaitable[None]] | None = None

    async def events(self) -> AsyncIterator[Event]:
        try:
            async for event in self.turn.run(self.content):
                if isinstance(event, Done):
                    await self._persist()
                yield event
        except Exception:
            if self.persisted:
                raise
            logger.exception("a conversation turn failed")
            error = self.turn._error("internal_error", "The turn failed on the server.")
            done = self.turn._done([])
            await self._persist()
            yield error
            yield done
        finally:
            if not self.persisted:  # the reader went away mid-turn: keep what happened
                try:
                    await asyncio.shield(self._persist())
                except Exception:
                    logger.exception("could not record an interrupted conversation turn")

    async def _persist(self) -> None:
        if self.persisted:
            return
        self.persisted = True
        entries = self.turn.entries
        if self.idempotency_key is not None and entries:
            entries[0]["idempotency_key"] = self.idempotency_key
        async with self.database.session(write=True) as session:
            async with session.begin():
                service = LiveConversationService(session, self.organization_id, self.runtime)
                row = await service.conversations.get(self.conversation_id, for_update=True)
                if row is None:  # deleted meanwhile
                    return
                now = utcnow()
                row.transcript = [*(row.transcript or []), *entries]
                row.turns = (row.turns or 0) + 1
                row.last_activity_at = now
                if row.status == "in_progress":
                    row.expires_at = now + timedelta(seconds=self.runtime.idle_timeout_seconds)
                    if self.turn.ended_reason is not None:
                        await service.finish(row, self.turn.ended_reason, at=now)
                if self.on_persist is not None:
                    await self.on_persist(session)
            await run_in_transaction_hooks(session)


async def prepare_turn(
    database: Database,
    runtime: LiveRuntime,
    organization_id: uuid.UUID,
    conversation_id: uuid.UUID,
    content: str,
    *,
    tool_mocks: Mapping[str, Mapping[str, Any]] | None = None,
    idempotency_key: str | None = None,
) -> PreparedTurn:
    """Load and check: 404 unknown (or another organization's), 409 ended (an idle or overlong
    conversation is ended now, then refused), 422 too long or a config that cannot run."""
    if len(content) > runtime.max_message_chars:
        raise MessageTooLong(
            f"The message has {len(content)} characters; the limit is {runtime.max_message_chars}."
        )
    async with database.session(write=False) as session, session.begin():
        row = await ConversationRepository(session, organization_id).get(conversation_id)
        if row is None:
            raise ConversationNotFound()
        if row.status != "in_progress":
            raise ConversationEnded()
        version = (
            await VersionRepository(session, organization_id).get(row.agent_version_id)
            if row.agent_version_id is not None
            else None
        )
        if version is None:
            raise ConfigNotRunnable("The conversation's agent version no longer exists.")
        config = runnable_config(version)
    now = utcnow()
    started = row.started_at or row.created_at
    overdue: str | None = None
    if row.expires_at is not None and row.expires_at <= now:
        overdue = "idle_timeout"
    elif (now - started).total_seconds() > config.end_call.max_duration_seconds:
        overdue = "max_duration"
    if overdue is not None:
        await expire(database, runtime, organization_id, conversation_id, overdue)
        raise ConversationEnded()
    context = ConversationContext(
        conversation_id=str(row.id),
        agent_id=str(row.agent_id) if row.agent_id else None,
        channel=row.channel,
        config=config,
        variables=dict(row.variables or {}),
        caller=row.caller,
        history=list(row.transcript or []),
    )
    deps = TurnDeps(
        model=runtime.model,
        http=runtime.http,
        retriever=runtime.retriever(database, organization_id) if runtime.retriever else None,
        workflows=runtime.workflows,
        tool_mocks=tool_mocks,
    )
    return PreparedTurn(
        database,
        runtime,
        organization_id,
        conversation_id,
        Turn(context, deps),
        content,
        idempotency_key,
    )


async def run_turn(
    database: Database,
    runtime: LiveRuntime,
    organization_id: uuid.UUID,
    conversation_id: uuid.UUID,
    content: str,
    *,
    tool_mocks: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[Event]:
    """One turn's events (the 4xx errors of `prepare_turn` are raised before the first)."""
    prepared = await prepare_turn(
        database, runtime, organization_id, conversation_id, content, tool_mocks=tool_mocks
    )
    async for event in prepared.events():
        yield event


async def expire(
    database: Database,
    runtime: LiveRuntime,
    organization_id: uuid.UUID,
    conversation_id: uuid.UUID,
    reason: str,
) -> bool:
    """End one conversation for `reason` if it is still in progress (its own transaction)."""
    async with database.session(write=True) as session:
        async with session.begin():
            service = LiveConversationService(session, organization_id, runtime)
            row = await service.conversations.get(conversation_id, for_update=True)
            if row is None or row.status != "in_progress":
                return False
            if reason == "idle_timeout" and (row.expires_at is None or row.expires_at > utcnow()):
                return False  # a turn came in meanwhile
            await service.finish(row, reason)
        await run_in_transaction_hooks(session)
    return True


async def expire_idle(database: Database, runtime: LiveRuntime, limit: int) -> int:
    """Housekeeping: end up to `limit` live conversations past their idle expiry
    (`idle_timeout`); returns how many were ended."""
    async with database.session(write=False) as session, session.begin():
        due = await idle_conversations(session, utcnow(), limit)
    ended = 0
    for organization_id, conversation_id in due:
        if await expire(database, runtime, organization_id, conversation_id, "idle_timeout"):
            ended += 1
    return ended
