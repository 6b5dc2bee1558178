"""A loopback OpenAI-compatible server, so tests run the real `openai` client end to end.

It serves `POST /v1/chat/completions` (plain JSON, or SSE when the request says `stream: true`),
records every request it gets, and can be told to fail with a status, to hang, or to pause a
stream after its first chunk until the test lets it go on.

Conversation tests script it per request: `script` is a queue of `Scripted` replies (text,
streamed tool calls, one or several, malformed arguments, a failure status, a hang), taken one
per chat request in arrival order; `responder` answers from the request itself (e.g. echoing the
user's message, for concurrent conversations). When both are empty, `behaviour` answers as before.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer

MODEL_ECHO = "stub-model"


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]


@dataclass
class StubBehaviour:
    reply: str = "Hello from the stub."
    chunks: list[str] | None = None  # streamed pieces; None splits `reply` into words
    fail_status: int | None = None
    fail_times: int | None = None  # fail only the first N requests (None: all of them)
    hang: bool = False  # accept the request, then never answer
    hang_after_first_chunk: bool = False
    gate: threading.Event | None = None  # streams pause after their first chunk until it is set


@dataclass
class ScriptedCall:
    """A tool call the stub streams: `arguments` is sent as given when a string (so it may be
    malformed JSON), JSON-encoded otherwise; it arrives in two fragments, as real models send
    it."""

    name: str
    arguments: str | dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def raw_arguments(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Scripted:
    """One scripted chat reply."""

    text: str | None = None  # streamed word by word (or as `chunks`)
    chunks: list[str] | None = None
    tool_calls: list[ScriptedCall] = field(default_factory=list)
    fail_status: int | None = None
    hang: bool = False  # accept, then never answer (until the server stops)
    hang_after_first_chunk: bool = False
    usage: tuple[int, int] = (11, 7)  # prompt, completion tokens (sent when asked for)

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return self.chunks
        if not self.text:
            return []
        words = self.text.split(" ")
        return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


def user_text(body: dict[str, Any]) -> str:
    """The last user message of a recorded chat request."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


@dataclass
class StubLLMServer:
    behaviour: StubBehaviour = field(default_factory=StubBehaviour)
    requests: list[RecordedRequest] = field(default_factory=list)
    script: collections.deque[Scripted] = field(default_factory=collections.deque)
    responder: Callable[[dict[str, Any]], Scripted] | None = None
    # When each streamed reply sent its first token (time.perf_counter), for the benchmarks.
    first_token_at: list[float] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: LoopbackServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/v1"

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                # the client may hang up mid-stream (a server cut off at shutdown does)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    stub._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = LoopbackServer(Handler)

    def stop(self) -> None:
        self._released.set()  # ends hanging handlers
        if self.behaviour.gate is not None:
            self.behaviour.gate.set()
        if self._server is not None:
            self._server.close()

    # --- request handling (runs on the server's threads) ----------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = json.loads(http.rfile.read(length) or b"{}")
        self.requests.append(
            RecordedRequest(
                path=http.path,
                headers={name.lower(): value for name, value in http.headers.items()},
                body=body,
            )
        )
        behaviour = self.behaviour
        if http.path != "/v1/chat/completions":
            return self._send_json(http, 404, {"error": {"message": "not found"}})
        scripted = self._next_scripted(body)
        if scripted is not None:
            return self._answer_scripted(http, body, scripted)
        if behaviour.hang:
            self._released.wait(10)
            return None
        failing = behaviour.fail_times is None or len(self.requests) <= behaviour.fail_times
        if behaviour.fail_status is not None and failing:
            error = {"message": f"stub failure {behaviour.fail_status}", "type": "stub_error"}
            return self._send_json(http, behaviour.fail_status, {"error": error})
        if body.get("stream"):
            return self._stream(http)
        return self._send_json(
            http,
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", MODEL_ECHO),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": behaviour.reply},
                        "finish_reason": "stop",
                    }
                ],
            },
        )

    def _next_scripted(self, body: dict[str, Any]) -> Scripted | None:
        with contextlib.suppress(IndexError):
            return self.script.popleft()
        return self.responder(body) if self.responder is not None else None

    def _answer_scripted(
        self, http: BaseHTTPRequestHandler, body: dict[str, Any], scripted: Scripted
    ) -> None:
        if scripted.hang:
            self._released.wait(10)
            return
        if scripted.fail_status is not None:
            error = {"message": f"stub failure {scripted.fail_status}", "type": "stub_error"}
            return self._send_json(http, scripted.fail_status, {"error": error})
        calls = [
            {
                "id": call.id or f"call_{index}_{len(self.requests)}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.raw_arguments()},
            }
            for index, call in enumerate(scripted.tool_calls)
        ]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": scripted.text}
            if calls:
                message["tool_calls"] = calls
            return self._send_json(
                http,
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", MODEL_ECHO),
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if calls else "stop",
                        }
                    ],
                },
            )
        http.send_response(200)
        http.send_header("Content-Type", "text/event-stream")
        http.send_header("Connection", "close")
        http.end_headers()

        def send(payload: dict[str, Any]) -> None:
            http.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            http.wfile.flush()

        def event(delta: dict[str, Any], finish: str | None = None) -> None:
            send(
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model", MODEL_ECHO),
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        event({"role": "assistant", "content": ""})
        for index, piece in enumerate(scripted.pieces()):
            if index == 0:
                self.first_token_at.append(time.perf_counter())
            event({"content": piece})
            if index == 0 and scripted.hang_after_first_chunk:
                self._released.wait(10)
                return
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            first = {"name": call["function"]["name"], "arguments": arguments[:half]}
            head = {"index": index, "id": call["id"], "type": "function", "function": first}
            event({"tool_calls": [head]})
            event({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
        event({}, finish="tool_calls" if calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion = scripted.usage
            send(
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model", MODEL_ECHO),
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    },
                }
            )
        http.wfile.write(b"data: [DONE]\n\n")
        http.wfile.flush()
        return None

    def _send_json(self, http: BaseHTTPRequestHandler, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.send_header("retry-after-ms", "1")  # keeps the client's retries fast
        http.end_headers()
        http.wfile.write(data)

    def _stream(self, http: BaseHTTPRequestHandler) -> None:
        behaviour = self.behaviour
        pieces = behaviour.chunks
        if pieces is None:
            words = behaviour.reply.split(" ")
            pieces = [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]
        http.send_response(200)
        http.send_header("Content-Type", "text/event-stream")
        http.send_header("Connection", "close")
        http.end_headers()

        def event(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": MODEL_ECHO,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            http.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            http.wfile.flush()

        event({"role": "assistant", "content": ""})
        for index, piece in enumerate(pieces):
            event({"content": piece})
            if index == 0 and behaviour.hang_after_first_chunk:
                self._released.wait(10)
                return
            if index == 0 and behaviour.gate is not None:
                behaviour.gate.wait(10)
        event({}, finish="stop")
        http.wfile.write(b"data: [DONE]\n\n")
        http.wfile.flush()
