"""A tiny website on 127.0.0.1, served from a thread, that records every request it gets."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True
    delay: float = 0.0  # seconds before answering


def html(body: str, *, head: str = "") -> Reply:
    return Reply(body=f"<!doctype html><html><head>{head}</head><body>{body}</body></html>")


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location}, content_type=None)


Route = Reply | Callable[[BaseHTTPRequestHandler], None]


class LocalSite:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.host_headers: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits[self.path] += 1
                site.host_headers.append(self.headers.get("Host", ""))
                route = site.routes.get(self.path, Reply(status=404, body="not found"))
                try:
                    if isinstance(route, Reply):
                        self._reply(route)
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler hung up, as it may

            def _reply(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.send_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = LoopbackServer(Handler)
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_hits(self) -> Counter[str]:
        """Requests for pages, robots.txt left out."""
        return Counter({path: n for path, n in self.hits.items() if path != "/robots.txt"})

    def close(self) -> None:
        self._server.close()


def endless_body(handler: BaseHTTPRequestHandler) -> None:
    """An HTML page that never ends (no Content-Length): only a streaming limit stops it."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    chunk = b"<p>" + b"x" * 16_384 + b"</p>"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        handler.wfile.write(chunk)


class FakeResolver:
    """Answers from a table, and remembers what it was asked; unknown names do not resolve."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]
