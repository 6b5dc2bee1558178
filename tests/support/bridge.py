"""The synchronous SDK (and so the CLI) against the in-process app, without a server process.

The CLI runs in a worker thread (`asyncio.to_thread`) while the test's event loop, which runs the
app and its workflows, is free; `AppBridge` hands each request over to that loop.
`route_to_app` points the commands' `connect` at it.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import ASGIApp

from callplane.cli_remote import _common as cli_common
from callplane.client import Client

IN_PROCESS_URL = "http://testserver"


class AppBridge(httpx.BaseTransport):
    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(self._send(request), self._loop)
        return future.result(timeout=120)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.read()
        )
        response = await self._transport.handle_async_request(forwarded)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        return httpx.Response(response.status_code, headers=response.headers, content=raw)


def route_to_app(app_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands connecting to IN_PROCESS_URL reach the app in this process; any other URL is a
    real connection (for the unreachable-server cases). Call it from the test's event loop."""
    bridge = AppBridge(app_client.app, asyncio.get_running_loop())  # type: ignore[attr-defined]

    def connect(url: str | None, api_key: str | None, org: str | None) -> Client:
        transport = bridge if url == IN_PROCESS_URL else None
        return Client(url, api_key, org, transport=transport, backoff=0.01)

    monkeypatch.setattr(cli_common, "connect", connect)
