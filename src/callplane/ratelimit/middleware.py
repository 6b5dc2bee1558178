"""Adds the rate-limit headers the auth dependency decided on to whatever response goes out."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_KEY = "rate_limit_headers"


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = scope.get("state", {}).get(STATE_KEY)
                if headers:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
