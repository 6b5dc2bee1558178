"""A call's conversation: a live conversation of the engine (channel `telephone`; `webrtc` for
a call from the console's browser page), one engine turn per caller turn, so the phone, the
browser, the text API and the widget run the same code."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from callplane.agent_config.schemas import AgentConfig
from callplane.audit import recorder as audit
from callplane.conversations.live import LiveConversationService, LiveRuntime, run_turn
from callplane.conversations.repository import ConversationRepository
from callplane.db.engine import Database
from callplane.runtime.events import Action, Delta, Done, Error
from callplane.voice.service import BrainFactory, CallContext
from callplane.voice.session import AgentAction, Brain, BrainEvent, TextDelta, TurnDone

logger = logging.getLogger("callplane.voice")


class EngineBrain:
    def __init__(
        self,
        database: Database,
        runtime: LiveRuntime,
        organization_id: uuid.UUID,
        conversation_id: uuid.UUID,
    ):
        self.database = database
        self.runtime = runtime
        self.organization_id = organization_id
        self.conversation_id = conversation_id

    async def reply(self, text: str) -> AsyncIterator[BrainEvent]:
        async for event in run_turn(
            self.database, self.runtime, self.organization_id, self.conversation_id, text
        ):
            if isinstance(event, Delta):
                yield TextDelta(event.text)
            elif isinstance(event, Action):
                yield AgentAction(event.type, dict(event.details))
            elif isinstance(event, Done):
                yield TurnDone(event.ended, event.ended_reason)
            elif isinstance(event, Error):
                logger.warning("turn error on %s: %s", self.conversation_id, event.message)

    async def close(self, reason: str | None, voice: dict[str, Any]) -> None:
        """Keep the call's voice record with the conversation (turns appended across resumed
        streams) and end it, unless the engine already did (hangup, transfer, end phrase)."""
        async with self.database.session(write=True) as session, session.begin():
            service = LiveConversationService(session, self.organization_id, self.runtime)
            row = await ConversationRepository(session, self.organization_id).get(
                self.conversation_id, for_update=True
            )
            if row is None:
                return
            metadata = dict(row.metadata_ or {})
            previous = dict(metadata.get("voice") or {})
            merged = {**previous, **voice}
            merged["turns"] = [*previous.get("turns", []), *voice.get("turns", [])]
            metadata["voice"] = merged
            row.metadata_ = metadata
            if reason is not None and row.status == "in_progress":
                await service.finish(row, reason)


def engine_brains(database: Database, runtime: Callable[[], LiveRuntime]) -> BrainFactory:
    """Each call starts a live conversation of the number's agent version (or, for a stream
    that resumes a call, goes on with the call's conversation)."""

    async def open_brain(context: CallContext, config: AgentConfig) -> tuple[Brain, str | None]:
        live = runtime()
        if context.conversation_id is not None:
            brain = EngineBrain(database, live, context.organization_id, context.conversation_id)
            return brain, None
        async with database.session(write=True) as session, session.begin():
            audit.act_as(session, context.started_by)
            started = await LiveConversationService(session, context.organization_id, live).start(
                context.agent_id,
                version=context.version,
                # a browser call (the console's "Call" page) is the `webrtc` channel: browser
                # voice, whose `channel_overrides` entry applies (docs/voice.md)
                channel="webrtc" if context.carrier == "browser" else "telephone",
                direction=context.direction,
                caller=context.caller,
                metadata={
                    "voice": {
                        "call_id": context.call_id,
                        "carrier": context.carrier,
                        "called": context.called,
                    }
                },
            )
        conversation_id = started.conversation.id
        brain = EngineBrain(database, live, context.organization_id, conversation_id)
        return brain, started.starting_message

    return open_brain
