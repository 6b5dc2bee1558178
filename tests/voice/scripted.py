"""A scripted conversation behind the gateway, for the call mechanics that the engine's own
decisions would only make slower to reach (actions on cue)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from callplane.agent_config.schemas import AgentConfig
from callplane.voice.service import CallContext
from callplane.voice.session import AgentAction, Brain, BrainEvent, TextDelta, TurnDone

Reply = tuple[str, list[AgentAction], bool]


@dataclass
class ScriptedBrain:
    answer: Callable[[str], Reply]
    heard: list[str] = field(default_factory=list)
    closed: asyncio.Future[tuple[str | None, dict[str, Any]]] | None = None
    conversation_id: Any = field(default_factory=uuid.uuid4)

    async def reply(self, text: str) -> AsyncIterator[BrainEvent]:
        self.heard.append(text)
        content, actions, ended = self.answer(text)
        for word in content.split(" "):
            yield TextDelta(word + " ")
        for action in actions:
            yield action
        yield TurnDone(ended=ended, reason="hangup" if ended else None)

    async def close(self, reason: str | None, voice: dict[str, Any]) -> None:
        if self.closed is not None and not self.closed.done():
            self.closed.set_result((reason, voice))


@dataclass
class Scripted:
    """Installs itself as the gateway's brain factory; one ScriptedBrain per call."""

    answer: Callable[[str], Reply]
    starting_message: str | None = "Hello, how can I help?"
    brains: list[ScriptedBrain] = field(default_factory=list)

    async def __call__(self, context: CallContext, config: AgentConfig) -> tuple[Brain, str | None]:
        brain = ScriptedBrain(self.answer, closed=asyncio.get_running_loop().create_future())
        self.brains.append(brain)
        resumed = context.conversation_id is not None
        return brain, None if resumed else self.starting_message
