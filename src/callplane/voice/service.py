"""Carrier credentials per organization, and the gateway's org-less work on a call: check the
carrier's signature, find the agent version answering the number, sign the stream's token."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agent_config.schemas import AgentConfig
from callplane.audit import recorder as audit
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.kit.secrets import BadToken, SecretBox, TokenSigner
from callplane.models import TelephonyCredential
from callplane.voice.carriers import CallControl, TelnyxControl, TwilioControl
from callplane.voice.errors import CarrierNotConfigured
from callplane.voice.providers import ProviderRegistry
from callplane.voice.repository import TelephonyRepository, forget_expired_tokens, use_token
from callplane.voice.schemas import TelnyxCredentials, TwilioCredentials
from callplane.voice.session import Brain

logger = logging.getLogger("callplane.voice")
PRUNE_SECONDS = 60.0  # each process deletes expired tokens' rows at most this often


class TelephonyService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID, settings: Settings):
        self.session = session
        self.organization_id = organization_id
        self.box = SecretBox(settings)
        self.credentials = TelephonyRepository(session, organization_id)

    async def get(self, provider: str) -> TelephonyCredential:
        row = await self.credentials.for_provider(provider)
        if row is None:
            raise CarrierNotConfigured()
        return row

    async def configure_twilio(self, body: TwilioCredentials) -> TelephonyCredential:
        return await self._put("twilio", body.account_sid, body.auth_token, None)

    async def configure_telnyx(self, body: TelnyxCredentials) -> TelephonyCredential:
        return await self._put("telnyx", "telnyx", body.api_key, body.public_key)

    async def _put(
        self, provider: str, account_id: str, secret: str, public_key: str | None
    ) -> TelephonyCredential:
        row = await self.credentials.for_provider(provider)
        if row is None:
            row = self.credentials.add(
                TelephonyCredential(
                    provider=provider,
                    account_id=account_id,
                    secret_encrypted=self.box.encrypt(secret),
                    public_key=public_key,
                )
            )
        else:
            row.account_id = account_id
            row.secret_encrypted = self.box.encrypt(secret)
            row.public_key = public_key
        await self.session.flush()
        await audit.record(
            self.session,
            self.organization_id,
            "telephony.configured",
            "telephony",
            provider,
            {"provider": provider, "account_id": account_id},
        )
        return row

    async def remove(self, provider: str) -> None:
        row = await self.get(provider)
        await self.credentials.delete(row)
        await audit.record(
            self.session,
            self.organization_id,
            "telephony.removed",
            "telephony",
            provider,
            {"provider": provider},
        )


@dataclass
class CallContext:
    """Everything the stream needs about a call, carried in its signed token."""

    organization_id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    version: int
    carrier: str
    call_id: str
    caller: str | None
    called: str | None
    direction: str = "inbound"
    conversation_id: uuid.UUID | None = None  # set when a stream resumes a call (DTMF)
    # Who started the call, for its conversation's audit event: the console's signed-in user for
    # a browser call; a carrier's call is the system's.
    started_by: audit.Actor = audit.SYSTEM

    def claims(self) -> dict[str, Any]:
        return {
            "org": str(self.organization_id),
            "agent": str(self.agent_id),
            "avid": str(self.agent_version_id),
            "v": self.version,
            "carrier": self.carrier,
            "call": self.call_id,
            "from": self.caller,
            "to": self.called,
            "dir": self.direction,
            "conv": str(self.conversation_id) if self.conversation_id else None,
            "by": _actor_claim(self.started_by),
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> CallContext:
        try:
            return cls(
                organization_id=uuid.UUID(str(claims["org"])),
                agent_id=uuid.UUID(str(claims["agent"])),
                agent_version_id=uuid.UUID(str(claims["avid"])),
                version=int(claims["v"]),
                carrier=str(claims["carrier"]),
                call_id=str(claims["call"]),
                caller=claims.get("from"),
                called=claims.get("to"),
                direction=str(claims.get("dir") or "inbound"),
                conversation_id=uuid.UUID(str(claims["conv"])) if claims.get("conv") else None,
                started_by=_actor_of(claims.get("by")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise BadToken("malformed call token") from exc


def _actor_claim(actor: audit.Actor) -> list[str | None] | None:
    if actor == audit.SYSTEM:
        return None
    credential = str(actor.credential_id) if actor.credential_id else None
    return [actor.type, actor.id, credential]


def _actor_of(claim: Any) -> audit.Actor:
    """The actor a token names (a token of an older release names none: the system)."""
    if claim is None:
        return audit.SYSTEM
    kind, actor_id, credential = claim
    if kind not in ("user", "api_key"):
        raise ValueError(f"not an actor: {kind!r}")
    return audit.Actor(kind, str(actor_id), uuid.UUID(credential) if credential else None)


BrainFactory = Callable[[CallContext, AgentConfig], Awaitable[tuple[Brain, str | None]]]


class VoiceGateway:
    """The process's voice gateway: providers, call tokens (each accepted once), carriers' REST
    clients, and how a call gets its conversation (`brain_factory`, wired by the app)."""

    def __init__(self, settings: Settings, database: Database, brain_factory: BrainFactory):
        self.settings = settings
        self.database = database
        self.providers = ProviderRegistry(settings)
        self.brain_factory = brain_factory
        self._next_prune = 0.0  # when this process next deletes expired tokens' rows

    def call_token(self, context: CallContext) -> str:
        signer = TokenSigner(self.settings, "voice-call")
        nonce = secrets.token_urlsafe(12)
        return signer.sign(
            {**context.claims(), "nonce": nonce}, self.settings.voice_call_token_seconds
        )

    async def redeem(self, token: str) -> CallContext:
        """The call a stream's token stands for; each token opens one stream only (a replayed
        token is refused) and only until it expires. A used token's id is kept in the database
        (`used_call_tokens`) until the token expires, so single use holds across every process
        of a cluster; if the database cannot record the use, the token is refused."""
        claims = TokenSigner(self.settings, "voice-call").verify(token)
        nonce = str(claims.get("nonce", ""))
        if not nonce or len(nonce) > 64:
            raise BadToken("call token without an id")
        context = CallContext.from_claims(claims)
        now = time.time()
        expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
        try:
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_SECONDS
                await forget_expired_tokens(self.database, datetime.fromtimestamp(now, UTC))
            first = await use_token(self.database, nonce, expires_at)
        except Exception as exc:  # fail closed: a use that is not recorded could be replayed
            logger.warning("could not record the use of a call token", exc_info=True)
            raise BadToken("call token use not recorded") from exc
        if not first:
            raise BadToken("call token already used")
        return context

    def control(self, credential: TelephonyCredential) -> CallControl:
        secret = SecretBox(self.settings).decrypt(credential.secret_encrypted)
        if credential.provider == "twilio":
            return TwilioControl(
                self.providers.client,
                self.settings.twilio_api_base_url,
                credential.account_id,
                secret,
            )
        return TelnyxControl(self.providers.client, self.settings.telnyx_api_base_url, secret)

    async def close(self) -> None:
        await self.providers.close()
