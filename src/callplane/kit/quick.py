"""Quick routes: a route's common requests served without FastAPI's dependency solving, every
other request by FastAPI exactly as before (issue 15).

A list page spent more server CPU in FastAPI solving its dependencies and query parameters
(eleven of them, each looked up, converted and validated) than in its query. A quick route
keeps its declared endpoint and FastAPI's handler for it; its requests first go through a
strict parse of the query string that accepts only what it can decide alone: every parameter
among `parsers`, each value in its canonical spelling (`limit=20`, `active=true`, text within
its length). Such a request cannot be invalid, so the quick handler serves it (after
`authorize()`, as `Requires` would). Anything else — another parameter, `limit=020`,
`active=yes`, an empty value, a value too long, a NUL — goes to FastAPI's own handler, which
answers it (including every 422) as it always did: nothing about the answers changes, only
what the common request costs. The rate limiter is charged once: the choice is made before
authorization.

The request middleware, the app's outermost layer, makes the choice (`QuickRoute.lean_for`,
asked by `kit.dispatch.RouteIndex.lean`) and serves an accepted request itself, as it serves a
lean route: without the framework's seven layers below it, its errors answered by the app's
handlers (`kit.lean.ErrorHandlers`). A refused request goes down the app's stack to the route,
which parses it again (a refusal costs one more parse) and hands it to FastAPI. So a quick
handler, like a lean one, must not use yield dependencies or anything else those layers provide.

Unlike kit.lean (one handler replaces FastAPI's), FastAPI remains the reference: the quick
parse may refuse anything it is unsure of.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Scope

from callplane.kit.lean import Handler

# A parser returns the parsed value, or REFUSE to hand the request to FastAPI.
REFUSE: Any = object()
Parser = Callable[[str], Any]
QuickHandler = Callable[[Request, dict[str, Any]], Coroutine[Any, Any, Response]]
# The caller's subject once authorized (`auth.dependencies.authorize` with the route's scopes).
Authorizer = Callable[[Request], Awaitable[Any]]

_BOOLEANS = {"true": True, "false": False}


def integer(low: int, high: int) -> Parser:
    """Decimal integers from `low` to `high` (both ≥ 0), without sign or leading zeros."""
    canonical = re.compile(r"0|[1-9][0-9]{0,8}")

    def parse(raw: str) -> Any:
        if canonical.fullmatch(raw) is None:
            return REFUSE
        value = int(raw)
        return value if low <= value <= high else REFUSE

    return parse


def boolean(raw: str) -> Any:
    """`true` or `false`, lower case (FastAPI also reads `1`, `yes`, `on`...: those go to it)."""
    return _BOOLEANS.get(raw, REFUSE)


def choice(*allowed: str) -> Parser:
    """One of `allowed`, spelled exactly (a `Literal` parameter's values)."""
    values = frozenset(allowed)

    def parse(raw: str) -> Any:
        return raw if raw in values else REFUSE

    return parse


def text(max_length: int) -> Parser:
    """A non-empty string of at most `max_length` characters without NUL."""

    def parse(raw: str) -> Any:
        if not raw or len(raw) > max_length or "\x00" in raw:
            return REFUSE
        return raw

    return parse


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def uuid_text(raw: str) -> Any:
    """A UUID in its hyphenated 36-character spelling (the other spellings go to FastAPI)."""
    return uuid.UUID(raw) if _UUID.fullmatch(raw) else REFUSE


def query_items(query: bytes) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs as Starlette's `QueryParams` reads them
    (`parse_qsl` of its Latin-1 text, blank values kept). A query with no escape in it (no `%`,
    no `+`) is split by hand, to the same pairs: `parse_qsl` skips empty pieces, splits each at
    its first `=` (none: a blank value) and unquotes, which changes nothing without those
    characters. That is the common request, at about a fifth of what building `QueryParams`
    cost (~2 against ~10 µs for `limit=20`)."""
    text = query.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    return [(name, value) for name, _, value in (p.partition("=") for p in text.split("&") if p)]


def parse_query(
    request: Request, parsers: Mapping[str, Parser], path: Mapping[str, Parser] | None = None
) -> dict[str, Any] | None:
    """The query's values by `parsers` (and the path parameters' by `path`), or None when any
    parameter is not theirs to decide (unknown, repeated, or not canonical)."""
    values: dict[str, Any] = {}
    query = request.scope.get("query_string", b"")
    for name, raw in query_items(query) if query else ():
        parser = parsers.get(name)
        if parser is None or name in values:
            return None  # unknown, or repeated: FastAPI's rules decide which value counts
        value = parser(raw)
        if value is REFUSE:
            return None
        values[name] = value
    for name, path_parser in (path or {}).items():
        value = path_parser(request.path_params[name])
        if value is REFUSE:
            return None
        values[name] = value
    return values


def endpoint_page(
    endpoint: Callable[..., Awaitable[Any]], authorizer: Authorizer, **fixed: Any
) -> QuickHandler:
    """A quick handler that serves a list page by calling the route's own `endpoint`, with the
    parsed values, `fixed` ones (what FastAPI would solve to the same value for every quick
    request, e.g. no time filter) and the `subject` and read `session` its dependencies would
    give: one body for both paths, so their answers cannot drift apart."""

    async def handle(request: Request, values: dict[str, Any]) -> Response:
        subject = await authorizer(request)
        async with request.app.state.database.session(write=False) as session, session.begin():
            page = await endpoint(subject=subject, session=session, **fixed, **values)
        return Response(page.model_dump_json(), media_type="application/json")

    return handle


def quick(
    parsers: Mapping[str, Parser],
    handler: QuickHandler,
    *,
    path: Mapping[str, Parser] | None = None,
) -> type[APIRoute]:
    """A route class (`add_api_route(route_class_override=...)`) serving with
    `handler(request, values)` the requests whose query (and path parameters, by `path`)
    `parse_query` accepts, and every other request with FastAPI's handler for the declared
    endpoint."""

    class QuickRoute(APIRoute):
        def lean_for(self, scope: Scope) -> Handler | None:
            """The quick handler bound to the request's values when the parse accepts it, else
            None (kit.dispatch.RouteIndex.lean asks, with the match in `scope`): the request
            middleware serves an accepted request itself, as it serves a lean route; a refused
            one goes down the app's stack to `get_route_handler`'s handler, which parses again
            and hands it to FastAPI."""
            values = parse_query(Request(scope), parsers, path)
            if values is None:
                return None
            return lambda request: handler(request, values)

        def get_route_handler(self) -> Handler:
            standard = super().get_route_handler()

            async def route(request: Request) -> Response:
                values = parse_query(request, parsers, path)
                if values is None:
                    return await standard(request)
                return await handler(request, values)

            return route

    return QuickRoute
