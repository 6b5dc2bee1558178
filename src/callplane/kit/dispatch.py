"""Route dispatch by path prefix: a request is matched only against the routes that can match it.

Starlette's router tries every route in order until one matches; with ~120 routes, a request for
`GET /core/agents/{id}` was tried against ~67 of them first (each a Python call, a scope lookup
and a regex): the largest single cost of the hot reads outside their query (issue 15,
benchmarks/RESULTS.md). `RouteIndex` groups the routes by their first two literal path segments
(`/core/agents/...` → `("core", "agents")`); a request is tried against its group, plus the
routes that cannot be grouped (a parameter or a mount within the first two segments), in the
routes' own order. A route outside the group cannot match the path at all, so the first full
match is the one the router would have found.

Anything else goes to the router unchanged: a path no grouped route fully matches (404, 405
with its `Allow`, the trailing-slash redirect), websocket and lifespan scopes, a mounted app's
root path, FastAPI telemetry, and any match whose child scope carries more than Starlette's keys.
The index is rebuilt whenever the router's list of routes changes. A lean route (kit/lean.py) is
served by calling its handler here: its errors are answered by the app's exception handlers,
one layer up (ExceptionMiddleware), as they are for every route.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

# A matched route's child scope, as Starlette's Route and Mount make it; anything else (FastAPI's
# included routers, telemetry) is left to the router.
_PLAIN_CHILD_KEYS = frozenset({"endpoint", "path_params", "route", "root_path", "app_root_path"})
Key = tuple[str, ...]


def request_key(path: str) -> Key:
    """The first two segments of a path: `/core/agents/x` → `("core", "agents")`."""
    return tuple(path.split("/", 3)[1:3])


def route_key(route: BaseRoute) -> Key | None:
    """The key every path this route can match has, or None if it has none (a parameter, or a
    mount, within the first two segments)."""
    if not isinstance(route, Route | WebSocketRoute | Mount):
        return None
    segments = route.path.split("/")[1:]
    literal = []
    for segment in segments:
        if "{" in segment:
            break
        literal.append(segment)
    if len(literal) >= 2:
        return tuple(literal[:2])
    if not isinstance(route, Mount) and len(literal) == len(segments):
        return tuple(literal)  # `/health`: exactly one segment
    return None


class RouteIndex:
    """The router's innermost app (`router.middleware_stack`), trying only the routes that can
    match a request's path; everything it does not settle goes to `router.app`."""

    def __init__(self, router: Router):
        self.router = router
        self.fallback = router.app
        self._routes: list[BaseRoute] | None = None
        self._count = -1
        self._groups: dict[Key, tuple[BaseRoute, ...]] = {}
        self._ungrouped: tuple[BaseRoute, ...] = ()

    def _build(self, routes: list[BaseRoute]) -> None:
        keyed: dict[Key, list[int]] = {}
        ungrouped: list[int] = []
        for position, route in enumerate(routes):
            key = route_key(route)
            if key is None:
                ungrouped.append(position)
            else:
                keyed.setdefault(key, []).append(position)

        def ordered(positions: Iterable[int]) -> tuple[BaseRoute, ...]:
            return tuple(routes[p] for p in sorted(positions))

        self._groups = {key: ordered([*found, *ungrouped]) for key, found in keyed.items()}
        self._ungrouped = ordered(ungrouped)
        self._routes = routes
        self._count = len(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self.router
        if (
            scope["type"] != "http"
            or scope.get("root_path")
            or "fastapi.telemetry" in scope
            or getattr(router, "form_limits", None)
        ):
            await self.fallback(scope, receive, send)
            return
        routes = router.routes
        if routes is not self._routes or len(routes) != self._count:
            self._build(routes)
        for route in self._groups.get(request_key(scope["path"]), self._ungrouped):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if not child_scope.keys() <= _PLAIN_CHILD_KEYS:
                    break
                if "router" not in scope:
                    scope["router"] = router
                scope.update(child_scope)
                lean = getattr(route, "lean_handler", None)
                if lean is not None:  # kit.lean: the handler answers, errors go to the app's
                    response = await lean(Request(scope, receive, send))
                    await response(scope, receive, send)
                    return
                await route.handle(scope, receive, send)
                return
        await self.fallback(scope, receive, send)


def index_routes(router: Any) -> None:
    """Put a RouteIndex in front of `router`'s own matching (when it has no middleware of its
    own: then its middleware stack is its `app`)."""
    if router.middleware_stack == router.app:
        router.middleware_stack = RouteIndex(router)
