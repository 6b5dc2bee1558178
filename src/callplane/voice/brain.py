"""A call's conversation: a live conversation of the engine (channel `telephone`)."""

from __future__ import annotations

from callplane.agent_config.schemas import AgentConfig
from callplane.db.engine import Database
from callplane.voice.service import BrainFactory, CallContext
from callplane.voice.session import Brain


def engine_brains(database: Database) -> BrainFactory:
    async def open_brain(context: CallContext, config: AgentConfig) -> tuple[Brain, str | None]:
        raise NotImplementedError("the conversation engine is not merged yet")

    return open_brain
