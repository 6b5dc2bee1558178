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
The index is rebuilt whenever the router's list of routes changes. The request middleware asks
it first (`lean`) whether a request goes to a lean route (kit/lean.py) or is a quick route's
request its parse accepts (kit/quick.py), which it then serves itself, from the app's outermost
layer; a lean or quick route reached here (the middleware built without the index, or a quick
request refused) is served by FastAPI's own wrapper of its handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

from callplane.kit.lean import Handler

# A matched route's child scope, as Starlette's Route and Mount make it; anything else (FastAPI's
# included routers, telemetry) is left to the router.
_PLAIN_CHILD_KEYS = frozenset({"endpoint", "path_params", "route", "root_path", "app_root_path"})
Key = tuple[str, ...]
# A route, and for a plain HTTP route its path regex and methods: a request that fails either
# cannot fully match it (Route.matches), so it is not asked.
Candidate = tuple[BaseRoute, re.Pattern[str] | None, frozenset[str] | None]


def _candidate(route: BaseRoute) -> Candidate:
    if isinstance(route, Route):
        return route, route.path_regex, None if route.methods is None else frozenset(route.methods)
    return route, None, None


def _lean_methods(route: BaseRoute) -> frozenset[str]:
    """The methods for which the request middleware asks `route` for a lean handler
    (`lean_for`: kit.lean's lean routes, kit.quick's quick routes); none for other routes."""
    if getattr(route, "lean_for", None) is None:
        return frozenset()
    methods = getattr(route, "methods", None)
    return frozenset(methods or ())


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
        self._groups: dict[Key, tuple[Candidate, ...]] = {}
        self._ungrouped: tuple[Candidate, ...] = ()
        self._lean_keys: frozenset[tuple[Key, str]] = frozenset()
        self._lean_ungrouped: frozenset[str] = frozenset()

    def _build(self, routes: list[BaseRoute]) -> None:
        keyed: dict[Key, list[int]] = {}
        ungrouped: list[int] = []
        for position, route in enumerate(routes):
            key = route_key(route)
            if key is None:
                ungrouped.append(position)
            else:
                keyed.setdefault(key, []).append(position)

        def ordered(positions: Iterable[int]) -> tuple[Candidate, ...]:
            return tuple(_candidate(routes[p]) for p in sorted(positions))

        self._groups = {key: ordered([*found, *ungrouped]) for key, found in keyed.items()}
        self._ungrouped = ordered(ungrouped)
        self._lean_keys = frozenset(
            (key, method)
            for key, found in keyed.items()
            for p in found
            for method in _lean_methods(routes[p])
        )
        self._lean_ungrouped = frozenset(
            method for p in ungrouped for method in _lean_methods(routes[p])
        )
        self._routes = routes
        self._count = len(routes)

    def _refresh(self) -> None:
        routes = self.router.routes
        if routes is not self._routes or len(routes) != self._count:
            self._build(routes)

    def _indexable(self, scope: Scope) -> bool:
        return not (
            scope["type"] != "http"
            or scope.get("root_path")
            or "fastapi.telemetry" in scope
            or getattr(self.router, "form_limits", None)
        )

    def _find(self, scope: Scope, key: Key) -> tuple[BaseRoute, Scope] | None:
        """The first route of the key's group that fully matches, with its child scope, or None
        (no full match, or one whose child scope is not plain: the router decides)."""
        path, method = scope["path"], scope["method"]
        for route, regex, methods in self._groups.get(key, self._ungrouped):
            # What Route.matches checks first, without its call (FastAPI's costs ~5 µs a route).
            if regex is not None and (
                regex.match(path) is None or (methods is not None and method not in methods)
            ):
                continue
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if not child_scope.keys() <= _PLAIN_CHILD_KEYS:
                    return None
                return route, child_scope
        return None

    def lean(self, scope: Scope) -> Handler | None:
        """The handler the request's route gives it to be served without the framework's
        layers (its `lean_for`, asked with the route's child scope merged into `scope`), or
        None: the app's stack answers it (another route, or none, or a quick route's request
        its parse refused). Only the groups that hold such a route for the request's method
        are matched here, so other requests pay one set lookup."""
        self._refresh()
        key, method = request_key(scope["path"]), scope["method"]
        if (
            (key, method) not in self._lean_keys and method not in self._lean_ungrouped
        ) or not self._indexable(scope):
            return None
        found = self._find(scope, key)
        if found is None:
            return None
        route, child_scope = found
        lean_for: Callable[[Scope], Handler | None] | None = getattr(route, "lean_for", None)
        if lean_for is None:
            return None
        scope.setdefault("router", self.router)
        scope.update(child_scope)  # a refused request is matched again, to the same route
        return lean_for(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._indexable(scope):
            await self.fallback(scope, receive, send)
            return
        self._refresh()
        found = self._find(scope, request_key(scope["path"]))
        if found is None:
            await self.fallback(scope, receive, send)
            return
        route, child_scope = found
        scope.setdefault("router", self.router)
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def index_routes(router: Any) -> None:
    """Put a RouteIndex in front of `router`'s own matching (when it has no middleware of its
    own: then its middleware stack is its `app`)."""
    if router.middleware_stack == router.app:
        router.middleware_stack = RouteIndex(router)
