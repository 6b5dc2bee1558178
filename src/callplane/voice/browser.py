"""Calling an agent from the browser: the console's "Call" page is a third carrier.

The page opens the microphone, converts it to 8 kHz µ-law in 20 ms frames (an AudioWorklet,
`console/static/call-worklet.js`) and speaks the Twilio Media Streams messages over
`WS /voice/browser/stream`, so the call runs through the same `CallSession` as a phone call
(VAD, recognition, the engine's turn, synthesis, barge-in, recording, latency).

What differs from a carrier:
- the call token comes from the console (`browser_call`: a signed-in user holding
  `conversations:manage`, the scope that starts a conversation through the API), not from a
  signed carrier webhook; it names the agent version to call (the live one or a draft);
- the page also gets the conversation as it goes (`transcript` and `ended` messages, which a
  Twilio client would ignore) so it can show the turns;
- there is no carrier REST API: the agent hanging up closes the socket.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.audit import recorder as audit
from callplane.conversations.live import VersionChoice, choose_version, runnable_config
from callplane.errors import AppError
from callplane.versions.errors import VersionNotFound
from callplane.versions.repository import VersionRepository
from callplane.voice.carriers import TwilioStream
from callplane.voice.service import CallContext, VoiceGateway
from callplane.voice.session import AgentAction, Brain, BrainEvent, TextDelta

CARRIER = "browser"
STREAM_PATH = "/voice/browser/stream"


class BrowserStream(TwilioStream):
    """The browser speaks Twilio's Media Streams messages (its own name in metrics/records)."""

    name = CARRIER


class VoiceUnavailable(AppError):
    status = 503
    code = "voice_unavailable"
    default_detail = "Speech recognition or synthesis cannot run for this agent version."


@dataclass
class BrowserCall:
    token: str
    call_id: str
    version: int
    stream_path: str = STREAM_PATH


async def browser_call(
    session: AsyncSession,
    gateway: VoiceGateway,
    organization_id: uuid.UUID,
    agent_id: uuid.UUID,
    choice: str,
    started_by: audit.Actor,
) -> BrowserCall:
    """A signed call token for `choice` ("live", "latest" or a version number) of the org's
    agent: another organization's agent is not found, an agent without a live version is a
    conflict, a version whose config cannot run is refused (as when starting a conversation)."""
    agent = await AgentRepository(session, organization_id).get(agent_id)
    if agent is None:
        raise AgentNotFound()
    pick: VersionChoice
    if choice in ("live", "latest"):
        pick = "live" if choice == "live" else "latest"
    elif choice.isdigit() and len(choice) < 10:
        pick = int(choice)
    else:
        raise VersionNotFound()
    version = await choose_version(VersionRepository(session, organization_id), agent, pick)
    config = runnable_config(version)
    missing = gateway.providers.for_config(config).missing()
    if missing:
        raise VoiceUnavailable("This agent version cannot take calls: " + "; ".join(missing))
    context = CallContext(
        organization_id=organization_id,
        agent_id=agent.id,
        agent_version_id=version.id,
        version=version.version,
        carrier=CARRIER,
        call_id=f"web-{uuid.uuid4().hex}",
        caller=None,
        called=None,
        direction="inbound",
        started_by=started_by,
    )
    return BrowserCall(gateway.call_token(context), context.call_id, version.version)


Send = Callable[[dict[str, Any]], Awaitable[None]]


class NarratedBrain:
    """The call's brain, telling the page what was said: the caller's recognized words when
    their turn starts, the agent's words when its turn is complete, and how the call ended."""

    def __init__(self, inner: Brain, send: Send):
        self.inner = inner
        self.conversation_id = inner.conversation_id
        self._send = send

    async def say(self, role: str, text: str) -> None:
        with contextlib.suppress(Exception):  # the page went away: the call ends on its own
            await self._send({"event": "transcript", "role": role, "text": text})

    async def reply(self, text: str) -> AsyncIterator[BrainEvent]:
        await self.say("user", text)
        said: list[str] = []
        async for event in self.inner.reply(text):
            if isinstance(event, TextDelta):
                said.append(event.text)
            elif isinstance(event, AgentAction) and event.type == "play_message":
                said.append(" " + str(event.data.get("message") or ""))
            yield event
        if "".join(said).strip():
            await self.say("agent", "".join(said).strip())

    async def close(self, reason: str | None, voice: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self._send({"event": "ended", "reason": reason})
        await self.inner.close(reason, voice)


async def narrate(brain: Brain, send: Send, starting_message: str | None) -> NarratedBrain:
    narrated = NarratedBrain(brain, send)
    if starting_message:
        await narrated.say("agent", starting_message)
    return narrated
