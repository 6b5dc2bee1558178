"""A loopback OpenAI-compatible speech server: `POST /v1/audio/transcriptions` answers the next
scripted transcript (deterministic, whatever the audio), `POST /v1/audio/speech` streams a tone
(24 kHz 16-bit PCM, `response_format: pcm`) as long as the text asks for."""

from __future__ import annotations

import contextlib
import json
import math
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer

SPEECH_RATE = 24000


def tone(milliseconds: int, rate: int = SPEECH_RATE, frequency: float = 440.0) -> bytes:
    samples = rate * milliseconds // 1000
    return struct.pack(
        f"<{samples}h",
        *(int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(samples)),
    )


@dataclass
class SpeechStub:
    transcripts: deque[str] = field(default_factory=deque)
    default_transcript: str = ""
    ms_per_char: int = 8  # spoken length of the tone per character of text
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    speeches: list[dict[str, Any]] = field(default_factory=list)
    _server: LoopbackServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/v1"

    def script(self, *texts: str) -> None:
        with self._lock:
            self.transcripts.extend(texts)

    def start(self) -> SpeechStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length)
                    if self.path.endswith("/audio/transcriptions"):
                        stub._transcribe(self, body)
                    elif self.path.endswith("/audio/speech"):
                        stub._speak(self, json.loads(body))
                    else:
                        self.send_error(404)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = LoopbackServer(Handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def _transcribe(self, http: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            text = self.transcripts.popleft() if self.transcripts else self.default_transcript
            self.transcriptions.append({"bytes": len(body), "riff": b"RIFF" in body, "text": text})
        payload = json.dumps({"text": text}).encode()
        http.send_response(200)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)

    def _speak(self, http: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.speeches.append(body)
        audio = tone(max(60, len(str(body.get("input", ""))) * self.ms_per_char))
        http.send_response(200)
        http.send_header("Content-Type", "audio/pcm")
        http.send_header("Transfer-Encoding", "chunked")
        http.end_headers()
        step = 4800  # 100 ms chunks
        for offset in range(0, len(audio), step):
            piece = audio[offset : offset + step]
            http.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        http.wfile.write(b"0\r\n\r\n")
