"""The synchronous SDK (and so the CLI) against the in-process app, without a server process.

The CLI runs in a worker thread (`asyncio.to_thread`) while the test's event loop, which runs the
app and its workflows, is free; `AppBridge` hands each request over to that loop.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import ASGIApp

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
