"""The route index (kit/dispatch.py) picks the route the router's linear scan would pick."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from starlette.routing import BaseRoute, Match

from callplane.app import create_app
from callplane.config import Settings
from callplane.kit.dispatch import RouteIndex, request_key, route_key

AGENT = str(uuid.uuid4())


def _linear(routes: Sequence[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def _indexed(index: RouteIndex, scope: dict[str, Any]) -> BaseRoute | None:
    index._build(index.router.routes)
    found = index._find(scope, request_key(str(scope["path"])))
    return None if found is None else found[0]


def _paths(routes: Sequence[BaseRoute]) -> list[str]:
    """Every route's own path with its parameters filled in, and some that match nothing."""
    paths = ["/", "/health/", "/core", "/core/", "/core/agents/", "/nowhere/at/all", ""]
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            filled = path
            while "{" in filled:
                start = filled.index("{")
                filled = filled[:start] + AGENT + filled[filled.index("}", start) + 1 :]
            paths += [filled, filled + "/x", path]
    return paths


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_the_index_finds_the_route_the_linear_scan_finds(tmp_path: object, method: str) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    routes = app.router.routes
    checked = 0
    for path in _paths(routes):
        scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "root_path": ""}
        assert _indexed(index, scope) is _linear(routes, scope), path
        checked += 1
    assert checked > 300


def test_route_keys() -> None:
    from starlette.routing import Mount, Route

    def endpoint() -> None: ...

    assert route_key(Route("/core/agents/{agent_id}", endpoint)) == ("core", "agents")
    assert route_key(Route("/core/agents", endpoint)) == ("core", "agents")
    assert route_key(Route("/health", endpoint)) == ("health",)
    assert route_key(Route("/core/{x}/y", endpoint)) is None
    assert route_key(Mount("/docs-assets", routes=[])) is None  # matches deeper paths
    assert route_key(Mount("/console/static", routes=[])) == ("console", "static")
    assert request_key("/core/agents/1/versions") == ("core", "agents")
    assert request_key("/health") == ("health",)


def test_lean_serves_lean_routes_and_accepted_quick_requests(tmp_path: object) -> None:
    """The request middleware serves a lean route's requests, and a quick route's requests its
    parse accepts, itself; a refused quick request, another method or another route goes down
    the app's stack (None)."""
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)

    def lean(method: str, path: str, query: bytes = b"") -> Any:
        scope = {"type": "http", "method": method, "path": path, "query_string": query}
        handler = index.lean(scope)
        if handler is not None:
            assert getattr(scope["route"], "path", None) is not None  # matched: for the metrics
        return handler

    assert lean("GET", f"/core/agents/{AGENT}") is not None
    assert lean("GET", "/core/agents", b"limit=20&name=x") is not None
    assert lean("HEAD", "/core/agents") is None  # FastAPI answers it (405)
    assert lean("GET", f"/core/agents/{AGENT}/versions", b"limit=2") is not None
    assert lean("GET", "/core/phone-numbers") is not None
    assert lean("GET", "/core/agents", b"limit=020") is None
    assert lean("GET", "/core/agents", b"created_after=2020-01-01T00:00:00Z") is None
    assert lean("GET", f"/core/agents/{AGENT.replace('-', '')}/versions") is None
    assert lean("POST", "/core/agents") is None
    assert lean("DELETE", f"/core/agents/{AGENT}") is None
    assert lean("GET", "/health") is None
