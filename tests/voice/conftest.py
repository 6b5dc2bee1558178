"""The voice gateway served for real (uvicorn on 127.0.0.1, in the test's event loop), a fake
carrier's REST API, and a speech stub; calls are placed by `tests.support.carrier.FakeCall`."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from callplane.app import create_app
from callplane.config import Settings
from callplane.voice.carriers import twilio_signature
from tests.factories import Tenant
from tests.support.carrier import ACCOUNT_SID, AUTH_TOKEN, FakeCall, FakeCarrierAPI
from tests.support.speech_stub import SpeechStub

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="the offline voice needs the espeak-ng binary (apt-get install espeak-ng; "
    ".ci/run installs it)",
)


@dataclass
class VoiceServer:
    app: FastAPI
    url: str  # http://127.0.0.1:port

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/voice/twilio/stream"

    async def incoming(
        self, params: dict[str, str], *, token: str = AUTH_TOKEN, signature: str | None = None
    ) -> httpx.Response:
        url = self.url + "/voice/twilio/incoming"
        signed = signature if signature is not None else twilio_signature(token, url, params)
        # A generous timeout: twenty calls arriving at once on a loaded CI machine (the tests
        # about concurrency assert what happens to the calls, not how fast the webhook answers).
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signed})

    async def place_call(
        self, tenant_number: str, *, call_id: str, caller: str = "+14155550199", speed: float = 1
    ) -> FakeCall:
        """The carrier's side of a call: the webhook, then the stream its TwiML names."""
        response = await self.incoming(
            {
                "CallSid": call_id,
                "AccountSid": ACCOUNT_SID,
                "From": caller,
                "To": tenant_number,
                "Direction": "inbound",
            }
        )
        assert response.status_code == 200, response.text
        token = stream_token(response.text)
        call = FakeCall(self.ws_url, call_id=call_id, speed=speed)
        await call.connect(token)
        return call


def stream_token(twiml: str) -> str:
    import re

    match = re.search(r'<Parameter name="token" value="([^"]+)"', twiml)
    assert match, twiml
    return match.group(1)


@asynccontextmanager
async def voice_server(settings: Settings, **overrides: Any) -> AsyncIterator[VoiceServer]:
    app = create_app(settings.model_copy(update={"workflows": "off", **overrides}))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # as `callplane serve`
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    try:
        yield VoiceServer(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
        listener.close()


@pytest.fixture(scope="session")
def carrier_api() -> Iterator[FakeCarrierAPI]:
    api = FakeCarrierAPI().start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def speech_stub() -> Iterator[SpeechStub]:
    stub = SpeechStub().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
async def stub_voice(
    settings: Settings, carrier_api: FakeCarrierAPI, speech_stub: SpeechStub, tmp_path_factory: Any
) -> AsyncIterator[VoiceServer]:
    """The gateway with STT/TTS at the OpenAI-compatible stub."""
    async with voice_server(
        settings,
        twilio_api_base_url=carrier_api.base_url,
        telnyx_api_base_url=carrier_api.base_url,
        voice_stt_base_url=speech_stub.base_url,
        voice_tts_base_url=speech_stub.base_url,
        voice_endpointing_ms=300,
        voice_recording_dir=str(tmp_path_factory.mktemp("recordings")),
    ) as server:
        yield server


@pytest.fixture(scope="session")
async def offline_voice(
    settings: Settings, carrier_api: FakeCarrierAPI, tmp_path_factory: Any
) -> AsyncIterator[VoiceServer]:
    """The gateway with the offline default (pocketsphinx + espeak-ng)."""
    async with voice_server(
        settings,
        twilio_api_base_url=carrier_api.base_url,
        voice_recording_dir=str(tmp_path_factory.mktemp("recordings")),
    ) as server:
        yield server


async def configure_twilio(tenant: Tenant) -> None:
    response = await tenant.put(
        "/core/telephony/twilio", json={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    assert response.status_code == 200, response.text


async def agent_on_number(tenant: Tenant, config: dict[str, Any]) -> tuple[str, str]:
    """A published agent version with `config` answering a new number; (agent id, number)."""
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"], config=config)
    number = await tenant.register_number()
    response = await tenant.publish(
        agent["id"], version["version"], phone_numbers=[number], direction="inbound"
    )
    assert response.status_code == 200, response.text
    return agent["id"], number
