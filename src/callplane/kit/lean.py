"""Lean routes: a hot read served without FastAPI's per-request dependency solving.

FastAPI solves a route's dependencies on every request (path parameters, the auth dependency and
its sub-dependency); on `GET /core/agents/{id}` that was ~100 µs of ~450 µs of server CPU
(benchmarks/RESULTS.md). A lean route keeps its declared endpoint, whose signature still makes
the OpenAPI document (and the authorization matrix and the fuzzer exercise it like any route),
but its requests go to a plain handler that authorizes with `authorize()`, the function behind
`Requires`, and parses its path parameters with the same Pydantic validation: it answers exactly
as the dependency-solved route would, 401/403/429 before 422.

The request middleware (the app's outermost layer, `observability.middleware`) calls a lean
route's handler itself, found by the route index (`kit.dispatch.RouteIndex.lean`), without the
layers between them: Starlette's ServerErrorMiddleware, FastAPI's telemetry and body-limit
layers, ExceptionMiddleware, FastAPI's exit stacks (for yield dependencies and uploaded files,
which a lean handler has none of), the router and the route's own wrapper (issue 15: resuming
that chain after every database round trip, and its `send` wrappers, were ~23% of the detail
route's samples). What the handler raises is answered by `ErrorHandlers`: the app's exception
handlers, looked up as those layers look them up, so a lean route's 401/403/404/422/429/500
is the same response as any route's. A route says it is served this way by `lean_for(scope)`:
a lean route's gives its handler for every request, a quick route's (kit.quick) for the
requests its parse accepts.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import Scope

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
ErrorHandler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]

_UUID = TypeAdapter(uuid.UUID)


def path_uuid(request: Request, name: str) -> uuid.UUID:
    """The path parameter `name` as a UUID, or FastAPI's 422 for it."""
    raw = request.path_params[name]
    try:
        return _UUID.validate_python(raw)
    except ValidationError as error:
        issues: list[Any] = [
            {**issue, "loc": ("path", name, *issue["loc"])} for issue in error.errors()
        ]
        raise RequestValidationError(issues) from None


def lean(handler: Handler) -> type[APIRoute]:
    """A route class (for `add_api_route(route_class_override=...)`) serving with `handler`."""

    class LeanRoute(APIRoute):
        def lean_for(self, scope: Scope) -> Handler:
            """Every request's handler (kit.dispatch.RouteIndex.lean asks: no per-request
            wrapper at all)."""
            return handler

        def get_route_handler(self) -> Handler:
            return handler

    return LeanRoute


def _in_thread(handler: Callable[[Request, Exception], Any]) -> ErrorHandler:
    """A plain-function handler, run in a worker thread as Starlette runs it."""

    async def run(request: Request, exc: Exception) -> Response:
        response: Response = await run_in_threadpool(handler, request, exc)
        return response

    return run


class ErrorHandlers:
    """An app's exception handlers (`app.exception_handlers`), split as FastAPI splits them
    between Starlette's two error layers: a 500 handler (the `Exception` or `500` entry, what
    ServerErrorMiddleware calls) and the others (what ExceptionMiddleware calls: status handlers
    first for an HTTPException, then the nearest class in the exception's MRO)."""

    def __init__(self, handlers: dict[Any, Any]):
        self.by_status: dict[int, ErrorHandler] = {}
        self.by_class: dict[type[BaseException], ErrorHandler] = {}
        self.server_error: ErrorHandler | None = None
        for key, given in handlers.items():
            handler = given if inspect.iscoroutinefunction(given) else _in_thread(given)
            if key in (500, Exception):
                self.server_error = handler
            elif isinstance(key, int):
                self.by_status[key] = handler
            else:
                self.by_class[key] = handler

    def handler_for(self, exc: Exception) -> ErrorHandler | None:
        handler = None
        if isinstance(exc, HTTPException):
            handler = self.by_status.get(exc.status_code)
        if handler is None:
            for cls in type(exc).__mro__:
                handler = self.by_class.get(cls)
                if handler is not None:
                    break
        return handler

    async def answer(self, handler: Handler, request: Request) -> Response:
        """The lean handler's response, or the app's answer to what it raised (an exception no
        handler takes propagates: the caller answers it with `server_error_response`)."""
        try:
            return await handler(request)
        except Exception as exc:
            respond = self.handler_for(exc)
            if respond is None:
                raise
            return await respond(request, exc)

    async def server_error_response(self, request: Request, exc: Exception) -> Response:
        """What ServerErrorMiddleware sends for an unhandled exception (then it re-raises)."""
        if self.server_error is None:
            return PlainTextResponse("Internal Server Error", status_code=500)
        return await self.server_error(request, exc)
