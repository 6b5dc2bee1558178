"""A fake carrier (Twilio-style), both halves: its REST API (records what callplane asked of a
live call) and a phone call's media stream (a WebSocket client streaming 8 kHz µ-law like
Twilio Media Streams, silence between utterances, echoing our marks as it "plays" them)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import random
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

import websockets

from callplane.voice.audio import FRAME_BYTES, pcm_to_ulaw
from tests.support.loopback import LoopbackServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789"


def speechlike(milliseconds: int, f0: float = 140.0, seed: int = 1) -> bytes:
    """8 kHz PCM that the VAD takes for speech: a buzz of harmonics at syllable rate."""
    rnd = random.Random(seed)
    samples = 8000 * milliseconds // 1000
    out = []
    for i in range(samples):
        t = i / 8000
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)
        voice = sum(math.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 12))
        out.append(max(-32768, min(32767, int(3000 * envelope * voice + rnd.gauss(0, 300)))))
    return struct.pack(f"<{samples}h", *out)


@dataclass
class FakeCarrierAPI:
    """Twilio's Calls resource and Telnyx's call actions, recording each request."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    on_request: Callable[[dict[str, Any]], None] | None = None
    _server: LoopbackServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> FakeCarrierAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                body: dict[str, Any] = (
                    json.loads(raw or "{}")
                    if self.headers.get("Content-Type", "").startswith("application/json")
                    else dict(parse_qsl(raw))
                )
                record = {
                    "path": self.path,
                    "body": body,
                    "authorization": self.headers.get("Authorization"),
                }
                with api._lock:
                    api.requests.append(record)
                if api.on_request is not None:
                    api.on_request(record)
                payload = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = LoopbackServer(Handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()


class FakeCall:
    """One call's media stream, as the carrier opens it."""

    def __init__(
        self, url: str, *, carrier: str = "twilio", call_id: str = "CA1", speed: float = 1
    ):
        self.url = url
        self.carrier = carrier
        self.call_id = call_id
        self.stream_id = "MZ" + call_id
        self.speed = speed  # > 1 streams the caller's audio faster than real time
        self.received: list[dict[str, Any]] = []
        self.media_at: list[float] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._talking = asyncio.Lock()
        self._sequence = 0

    # --- what the carrier sends ---------------------------------------------------------

    async def connect(self, token: str | None, *, silence: bool = True) -> None:
        self._socket = await websockets.connect(self.url, max_size=None)
        self._reader = asyncio.create_task(self._read())
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        parameters = {"token": token} if token is not None else {}
        if self.carrier == "twilio":
            start: dict[str, Any] = {
                "event": "start",
                "streamSid": self.stream_id,
                "start": {
                    "accountSid": ACCOUNT_SID,
                    "streamSid": self.stream_id,
                    "callSid": self.call_id,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                    "customParameters": parameters,
                },
            }
        else:
            start = {
                "event": "start",
                "stream_id": self.stream_id,
                "start": {"call_control_id": self.call_id, "custom_parameters": parameters},
            }
        await self._send(start)
        if silence:
            self._pump = asyncio.create_task(self._silence())

    async def say(self, pcm: bytes, trailing_silence_ms: int = 600) -> None:
        """Stream an utterance, then silence long enough for the endpointer."""
        async with self._talking:
            audio = pcm + b"\x00" * (16 * trailing_silence_ms)
            started = time.perf_counter()
            for index, offset in enumerate(range(0, len(audio), FRAME_BYTES)):
                await self._media(audio[offset : offset + FRAME_BYTES])
                due = started + (index + 1) * 0.02 / self.speed
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

    async def dtmf(self, digit: str) -> None:
        key = "dtmf"
        await self._send({"event": "dtmf", "streamSid": self.stream_id, key: {"digit": digit}})

    async def stop(self) -> None:
        await self._send({"event": "stop", "streamSid": self.stream_id, "stop": {}})
        await self._halt()

    async def drop(self) -> None:
        """The socket goes away with no `stop` (a network failure)."""
        await self._halt()
        with contextlib.suppress(Exception):
            self._socket.transport.abort()

    async def _halt(self) -> None:
        if self._pump is not None:
            self._pump.cancel()

    async def close(self) -> None:
        await self._halt()
        with contextlib.suppress(Exception):
            await self._socket.close()
        if self._reader is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 2)

    # --- what the carrier receives ------------------------------------------------------

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("event") == name]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.perf_counter() + within
        while not predicate():
            if time.perf_counter() > deadline:
                raise AssertionError(f"timed out; received {self.summary()}")
            await asyncio.sleep(0.01)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.received:
            counts[str(message.get("event"))] = counts.get(str(message.get("event")), 0) + 1
        return counts

    async def _read(self) -> None:
        try:
            async for raw in self._socket:
                message = json.loads(raw)
                self.received.append(message)
                if message.get("event") == "media":
                    self.media_at.append(time.perf_counter())
                if message.get("event") == "mark":  # "played": echo it like Twilio does
                    with contextlib.suppress(Exception):
                        await self._send(
                            {
                                "event": "mark",
                                "streamSid": self.stream_id,
                                **{"mark": message["mark"]},
                            }
                        )
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._socket.close_code
            self.closed.set()
            if self._pump is not None:
                self._pump.cancel()

    async def _silence(self) -> None:
        """Like a real call: 20 ms of (silent) audio every 20 ms while the caller says nothing."""
        frame = b"\x00" * FRAME_BYTES
        with contextlib.suppress(Exception):
            while True:
                if not self._talking.locked():
                    await self._media(frame)
                await asyncio.sleep(0.02)

    async def _media(self, pcm: bytes) -> None:
        self._sequence += 1
        payload = base64.b64encode(pcm_to_ulaw(pcm)).decode()
        if self.carrier == "twilio":
            message = {
                "event": "media",
                "streamSid": self.stream_id,
                "media": {"track": "inbound", "payload": payload},
            }
        else:
            message = {"event": "media", "stream_id": self.stream_id, "media": {"payload": payload}}
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        """Like a carrier, stop sending once the socket is closed (no error to the test)."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._socket.send(json.dumps(message))
