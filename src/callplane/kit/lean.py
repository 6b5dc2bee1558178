"""Lean routes: a hot read served without FastAPI's per-request dependency solving.

FastAPI solves a route's dependencies on every request (path parameters, the auth dependency and
its sub-dependency); on `GET /core/agents/{id}` that was ~100 µs of ~450 µs of server CPU
(benchmarks/RESULTS.md). A lean route keeps its declared endpoint, whose signature still makes
the OpenAPI document (and the authorization matrix and the fuzzer exercise it like any route),
but its requests go to a plain handler that authorizes with `authorize()`, the function behind
`Requires`, and parses its path parameters with the same Pydantic validation: it answers exactly
as the dependency-solved route would, 401/403/429 before 422.

The route index (`kit.dispatch.RouteIndex`) calls a lean route's handler itself, without the
route's ASGI wrappers (FastAPI's exit stacks for yield dependencies, which a lean handler has
none of, and its per-route exception wrapper): what the handler raises is answered by the app's
exception handlers one layer up, the same ones, with the same bodies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

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
        # kit.dispatch.RouteIndex calls it straight away (no per-request wrapper at all).
        lean_handler = staticmethod(handler)

        def get_route_handler(self) -> Handler:
            return handler

    return LeanRoute
