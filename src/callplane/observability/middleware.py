"""The request middleware: the one pure-ASGI layer every request passes (metrics, access log,
request id, body buffering, Idempotency-Key settling)."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client.metrics import Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callplane.idempotency.middleware import Settlement, key_refusal, keyed
from callplane.kit.dispatch import RouteIndex
from callplane.kit.lean import ErrorHandlers, Handler
from callplane.kit.middleware import buffer_body, request_id, response_headers, send_parts, state
from callplane.observability.counters import HTTP_DURATION, HTTP_REQUESTS

access_logger = logging.getLogger("callplane.access")

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# (method, route, status) -> the labelled children; bounded by routes x methods x statuses.
_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path template, never the raw path (labels must stay few)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    mounted = scope.get("root_path", "")
    if mounted != root_path:  # a Mount (e.g. /docs-assets) answered: its prefix
        return str(mounted[len(root_path) :])
    return UNMATCHED


def _record(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, str(status))
    children = _children.get(key)
    if children is None:
        children = (HTTP_REQUESTS.labels(*key), HTTP_DURATION.labels(*key))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


class RequestMiddleware:
    """The one pure-ASGI layer in front of the routes (issue 15: it was four, each a coroutine
    and a send wrapper per request), the app's outermost (`app.CallplaneAPI`). In order:

    - times and counts every request by route template and logs it as one JSON line (413s,
      refusals and unhandled errors included);
    - gives every response X-Request-ID (the client's when sane) and the headers the request left
      in its state (`kit.middleware.RESPONSE_HEADERS`, e.g. rate-limit headers);
    - refuses malformed URLs and oversized headers at the door, buffers bodies (413 beyond
      `max_bytes`, 422 for duplicate JSON keys);
    - checks an Idempotency-Key's syntax and settles its record before the answer leaves;
    - serves a lean route (kit.lean), and a quick route's request its parse accepts
      (kit.quick), itself, answering their errors with the app's handlers (`errors`); every
      other request goes down the app's stack (`app`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool,
        max_bytes: int,
        index: RouteIndex | None = None,
        errors: ErrorHandlers | None = None,
    ):
        self.app = app
        self.access_log = access_log
        self.max_bytes = max_bytes
        self.index = index if errors is not None else None
        self.errors = errors or ErrorHandlers({})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        request_state = state(scope)
        request_state["request_id"] = identifier = request_id(scope)
        id_header = (b"x-request-id", identifier.encode())
        status = 500  # what the client gets if the app raises before answering
        settlement: Settlement | None = None

        async def respond(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    id_header,
                    *response_headers(request_state),
                ]
            await send(message)

        try:
            app_receive, refusal = await buffer_body(scope, receive, self.max_bytes)
            if refusal is None and app_receive is not None:
                refusal = key_refusal(scope)
            if refusal is not None:
                await send_parts(respond, refusal)
            elif app_receive is not None:
                lean = None if self.index is None or keyed(scope) else self.index.lean(scope)
                if lean is not None:
                    request = Request(scope, app_receive, send)
                    status, unhandled = await self._serve_lean(lean, request, send, id_header)
                    if unhandled is not None:
                        raise unhandled  # for the server to log, as Starlette does
                elif keyed(scope):
                    settlement = Settlement(scope, respond)
                    await self.app(scope, app_receive, settlement.send)
                else:
                    await self.app(scope, app_receive, respond)
        finally:
            if settlement is not None:
                await settlement.finish()
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope, root_path)
            _record(method, route, status, seconds)
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                fields = _access_fields(scope, request_state, route, status, seconds)
                access_logger.info("%s %s %d", scope["method"], scope["path"], status, extra=fields)

    async def _serve_lean(
        self, handler: Handler, request: Request, send: Send, id_header: tuple[bytes, bytes]
    ) -> tuple[int, Exception | None]:
        """Serve a lean route: the status sent, and the exception no handler took (answered as
        ServerErrorMiddleware answers it, with the app's 500 handler). The response carries the
        request's headers itself: no `send` wrapper."""
        unhandled = None
        try:
            response = await self.errors.answer(handler, request)
        except Exception as exc:
            unhandled = exc
            response = await self.errors.server_error_response(request, exc)
        response.raw_headers += [id_header, *response_headers(request.scope["state"])]
        await response(request.scope, request.receive, send)
        return response.status_code, unhandled


def _access_fields(
    scope: Scope, request_state: dict[str, Any], route: str, status: int, seconds: float
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": request_state.get("request_id"),
        "method": scope["method"],
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    subject = request_state.get("subject")
    if subject is not None:  # set by the auth dependency once the credential checked out
        fields["organization_id"] = str(subject.organization_id)
        fields["credential_id"] = str(subject.credential_id)
    return fields
