"""The voice gateway's HTTP and WebSocket edge.

- `/core/telephony/{twilio,telnyx}`: an organization's carrier account (credentials encrypted).
- `POST /voice/{carrier}/incoming`: the carrier's call webhook, checked against the owning
  organization's credentials (signature), answered with TwiML/TeXML connecting a media stream.
- `WS /voice/{carrier}/stream`: the media stream; its first `start` must carry the call token
  the webhook issued, or the socket is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from callplane.agent_config.schemas import AgentConfig
from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.config import Settings
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import AppError, merge_responses
from callplane.kit.secrets import BadToken, SecretBox, SecretKeyMissing
from callplane.voice.browser import BrowserStream, narrate
from callplane.voice.carriers import (
    Start,
    StreamProtocol,
    TelnyxStream,
    TwilioStream,
    connect_stream,
    say_and_hang_up,
    telnyx_signature_valid,
    twilio_signature_valid,
)
from callplane.voice.errors import BadCarrierSignature, CarrierNotConfigured
from callplane.voice.recording import Recorder
from callplane.voice.repository import TelephonyRepository, number_owner, slot_version
from callplane.voice.schemas import TelephonyRead, TelnyxCredentials, TwilioCredentials
from callplane.voice.service import CallContext, TelephonyService, VoiceGateway
from callplane.voice.session import CallSession, Rules

logger = logging.getLogger("callplane.voice")

router = APIRouter(prefix="/core/telephony", tags=["telephony"])
public_router = APIRouter()

Reader = Annotated[AuthSubject, Requires(Scope.PHONE_NUMBERS_READ, Scope.PHONE_NUMBERS_MANAGE)]
Manager = Annotated[AuthSubject, Requires(Scope.PHONE_NUMBERS_MANAGE)]

UNASSIGNED = "Sorry, this number is not answered by any agent right now. Goodbye."
UNAVAILABLE = "Sorry, this agent cannot take calls right now. Please try again later. Goodbye."
STREAMS: dict[str, StreamProtocol] = {
    "twilio": TwilioStream(),
    "telnyx": TelnyxStream(),
    "browser": BrowserStream(),  # the console's "Call" page (voice/browser.py)
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _read(row: Any) -> TelephonyRead:
    return TelephonyRead(
        provider=row.provider,
        account_id=row.account_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- configuration ---------------------------------------------------------------------------


@router.put("/twilio", response_model=TelephonyRead, responses=merge_responses(SecretKeyMissing))
async def update_twilio_account(
    body: TwilioCredentials, subject: Manager, session: WriteSession, request: Request
) -> TelephonyRead:
    """Set the organization's Twilio account; the auth token is stored encrypted and checks
    every call webhook's `X-Twilio-Signature`."""
    service = TelephonyService(session, subject.organization_id, _settings(request))
    return _read(await service.configure_twilio(body))


@router.put("/telnyx", response_model=TelephonyRead, responses=merge_responses(SecretKeyMissing))
async def update_telnyx_account(
    body: TelnyxCredentials, subject: Manager, session: WriteSession, request: Request
) -> TelephonyRead:
    """Set the organization's Telnyx account: API key (encrypted) and webhook public key."""
    service = TelephonyService(session, subject.organization_id, _settings(request))
    return _read(await service.configure_telnyx(body))


@router.get(
    "/{provider}",
    response_model=TelephonyRead,
    responses=merge_responses(CarrierNotConfigured, SecretKeyMissing),
)
async def get_telephony_account(
    provider: str, subject: Reader, session: ReadSession, request: Request
) -> TelephonyRead:
    row = await TelephonyRepository(session, subject.organization_id).for_provider(provider)
    if row is None:
        raise CarrierNotConfigured()
    return _read(row)


@router.delete(
    "/{provider}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(CarrierNotConfigured, SecretKeyMissing),
)
async def remove_telephony_account(
    provider: str, subject: Manager, session: WriteSession, request: Request
) -> Response:
    await TelephonyService(session, subject.organization_id, _settings(request)).remove(provider)
    return Response(status_code=204)


# --- the call webhook ------------------------------------------------------------------------


def _public_url(request: Request) -> str:
    """The URL the carrier called, as it signed it: CALLPLANE_PUBLIC_URL + path when set."""
    base = _settings(request).public_url
    if base:
        url = base.rstrip("/") + request.url.path
        return url + ("?" + request.url.query if request.url.query else "")
    return str(request.url)


def _stream_url(request: Request, carrier: str) -> str:
    base = _settings(request).public_url or f"{request.url.scheme}://{request.url.netloc}"
    base = base.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}/voice/{carrier}/stream"


def _xml(body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/xml", headers=headers)


XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {}}, "description": "TwiML/TeXML for the call."},
    **merge_responses(BadCarrierSignature),
}


# The carriers' webhooks are not part of the API clients use (no credential, no Idempotency-Key:
# the carrier signs each request): docs/voice.md describes them, the OpenAPI leaves them out.
@public_router.post(
    "/voice/twilio/incoming",
    responses=XML_RESPONSES,
    response_class=Response,
    include_in_schema=False,
)
async def twilio_incoming(request: Request, session: ReadSession) -> Response:
    """Twilio's voice webhook: check `X-Twilio-Signature`, answer with a media stream to the
    agent version in the called number's inbound slot, or an apology and `<Hangup/>`."""
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    number = await number_owner(session, params.get("To", ""))
    if number is None:
        return _xml(say_and_hang_up(UNASSIGNED))
    credential = await TelephonyRepository(session, number.organization_id).for_provider("twilio")
    if credential is None:
        raise BadCarrierSignature("No Twilio account is configured for this number's owner.")
    token = SecretBox(_settings(request)).decrypt(credential.secret_encrypted)
    signature = request.headers.get("x-twilio-signature")
    if not twilio_signature_valid(token, _public_url(request), params, signature):
        raise BadCarrierSignature()
    if params.get("AccountSid") != credential.account_id:
        raise BadCarrierSignature("The call belongs to another Twilio account.")
    return await _answer(request, session, number, "twilio", params.get("CallSid", ""), params)


@public_router.post(
    "/voice/telnyx/incoming",
    responses=XML_RESPONSES,
    response_class=Response,
    include_in_schema=False,
)
async def telnyx_incoming(request: Request, session: ReadSession) -> Response:
    """Telnyx's TeXML webhook (Twilio-compatible parameters), signed with Ed25519."""
    body = await request.body()
    params = dict(parse_qsl(body.decode("utf-8", "replace")))
    number = await number_owner(session, params.get("To", ""))
    if number is None:
        return _xml(say_and_hang_up(UNASSIGNED))
    credential = await TelephonyRepository(session, number.organization_id).for_provider("telnyx")
    if credential is None or not credential.public_key:
        raise BadCarrierSignature("No Telnyx account is configured for this number's owner.")
    if not telnyx_signature_valid(
        credential.public_key,
        request.headers.get("telnyx-timestamp"),
        body,
        request.headers.get("telnyx-signature-ed25519"),
        time.time(),
    ):
        raise BadCarrierSignature()
    return await _answer(request, session, number, "telnyx", params.get("CallSid", ""), params)


async def _answer(
    request: Request, session: Any, number: Any, carrier: str, call_id: str, params: dict[str, str]
) -> Response:
    version = await slot_version(session, number)
    if version is None:
        return _xml(say_and_hang_up(UNASSIGNED))
    gateway: VoiceGateway = request.app.state.voice
    try:
        config = AgentConfig.model_validate(version.config)
    except ValidationError:  # a version stored before a schema change it no longer meets
        logger.warning("call to %s refused: its agent version's config cannot run", number)
        return _xml(say_and_hang_up(UNAVAILABLE))
    missing = gateway.providers.for_config(config).missing()
    if missing:
        logger.warning("call to %s refused: %s", number.phone_number, "; ".join(missing))
        return _xml(say_and_hang_up(UNAVAILABLE), {"X-Callplane-Voice-Missing": "; ".join(missing)})
    context = CallContext(
        organization_id=number.organization_id,
        agent_id=version.agent_id,
        agent_version_id=version.id,
        version=version.version,
        carrier=carrier,
        call_id=call_id,
        caller=params.get("From"),
        called=params.get("To"),
    )
    return _xml(connect_stream(_stream_url(request, carrier), gateway.call_token(context)))


# --- the media stream ------------------------------------------------------------------------


@public_router.websocket("/voice/twilio/stream")
async def twilio_stream(websocket: WebSocket) -> None:
    await _stream(websocket, "twilio")


@public_router.websocket("/voice/telnyx/stream")
async def telnyx_stream(websocket: WebSocket) -> None:
    await _stream(websocket, "telnyx")


@public_router.websocket("/voice/browser/stream")
async def browser_stream(websocket: WebSocket) -> None:
    """The console's "Call" page: Twilio's messages, a token from `POST /console/agents/{id}/
    call` (the signed-in user's), and the transcript sent along (docs/voice.md)."""
    await _stream(websocket, "browser")


async def _receive(websocket: WebSocket) -> dict[str, Any] | None:
    # The ASGI message, not `receive_text()`: Starlette refuses to read once a send has failed,
    # and a send fails as soon as the peer closed, while what it sent before closing (the
    # carrier's `stop`, after media the gateway has not read yet) is still there to be read.
    try:
        received = await websocket.receive()
    except (WebSocketDisconnect, RuntimeError):
        return None
    if received["type"] != "websocket.receive":
        return None  # websocket.disconnect
    text = received.get("text")
    if text is None:
        return {}  # a binary frame: not a media-stream message
    try:
        message = json.loads(text)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


async def _stream(websocket: WebSocket, carrier: str) -> None:
    await websocket.accept()
    protocol = STREAMS[carrier]
    gateway: VoiceGateway = websocket.app.state.voice
    start = await _await_start(websocket, protocol)
    try:
        if start is None:
            raise BadToken("no start event")
        context = await gateway.redeem(start.parameters.get("token", ""))
        if context.carrier != carrier or context.call_id != start.call_id:
            raise BadToken("token for another call")
    except BadToken as exc:
        logger.warning("media stream refused: %s", exc)
        await websocket.close(code=1008, reason="invalid call token")
        return
    session = await _open_session(websocket, gateway, protocol, context, start)
    if session is None:
        await websocket.close(code=1011, reason="agent unavailable")
        return
    await session.run(lambda: _receive(websocket))
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError):
            await websocket.close()


async def _await_start(websocket: WebSocket, protocol: StreamProtocol) -> Start | None:
    """Skip `connected`; the first other message must be `start` (within 10 s)."""
    try:
        async with asyncio.timeout(10):
            while True:
                message = await _receive(websocket)
                if message is None:
                    return None
                event = protocol.parse(message)
                if isinstance(event, Start):
                    return event
                if message.get("event") not in ("connected", None):
                    return None
    except TimeoutError:
        return None


async def _open_session(
    websocket: WebSocket,
    gateway: VoiceGateway,
    protocol: StreamProtocol,
    context: CallContext,
    start: Start,
) -> CallSession | None:
    from callplane.models import AgentVersion

    async with gateway.database.session(write=False) as session:
        version = await session.get(AgentVersion, context.agent_version_id)
        credential = await TelephonyRepository(session, context.organization_id).for_provider(
            context.carrier
        )
    if version is None or version.organization_id != context.organization_id:
        return None
    try:
        config = AgentConfig.model_validate(version.config)
    except ValidationError:
        return None
    control = gateway.control(credential) if credential is not None else None
    try:
        brain, starting_message = await gateway.brain_factory(context, config)
    except AppError as error:  # the agent is no longer live, its config cannot run...
        logger.warning("call %s refused: %s", context.call_id, error.detail)
        return None
    settings = gateway.settings
    rules = Rules(
        silence_timeout=(
            float(config.end_call.silence_timeout_seconds)
            if config.end_call.silence_timeout_seconds is not None
            else None
        ),
        max_duration=float(config.end_call.max_duration_seconds),
        end_phrases=list(config.end_call.end_phrases),
        endpointing_ms=settings.voice_endpointing_ms,
        vad_aggressiveness=settings.voice_vad_aggressiveness,
    )
    recorder = None
    if config.recording.enabled:
        recorder = Recorder(
            settings.voice_recording_dir, f"{context.call_id}-{uuid.uuid4().hex[:8]}"
        )

    stream_url = _stream_url_for(websocket, settings, context.carrier)

    def resume_twiml() -> str:
        resumed = replace(context, conversation_id=brain.conversation_id)
        return connect_stream(stream_url, gateway.call_token(resumed))

    async def send(message: dict[str, Any]) -> None:
        # the socket went away: nothing to do, the receive side ends the call
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.send_text(json.dumps(message))

    if context.carrier == "browser":  # the page shows the turns as they are said
        brain = await narrate(brain, send, starting_message)

    return CallSession(
        call_id=context.call_id,
        stream_id=start.stream_id,
        carrier=protocol,
        send=send,
        brain=brain,
        providers=gateway.providers.for_config(config),
        control=control,
        rules=rules,
        starting_message=starting_message,
        recorder=recorder,
        resume_twiml=resume_twiml,
    )


def _stream_url_for(websocket: WebSocket, settings: Settings, carrier: str) -> str:
    base = settings.public_url or f"{websocket.url.scheme}://{websocket.url.netloc}"
    base = base.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}/voice/{carrier}/stream"
