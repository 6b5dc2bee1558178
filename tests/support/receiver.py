"""A webhook receiver on 127.0.0.1 that records every request and answers from a script."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lowercase names
    body: bytes


class Receiver:
    """Answers the statuses in `script` in turn, then `default`; non-2xx answers carry a long
    body (only an excerpt of it may be kept). `delay` seconds before each answer."""

    def __init__(self, script: Iterable[int] = (), default: int = 200, delay: float = 0.0):
        self.requests: list[Received] = []
        self._script = list(script)
        self._default = default
        self._delay = delay
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver._script.pop(0) if receiver._script else receiver._default
                if receiver._delay:
                    time.sleep(receiver._delay)
                reply = b"ok" if status < 300 else b"boom " * 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply)  # the client may have given up (timeout)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = LoopbackServer(Handler)
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self._server.close()
