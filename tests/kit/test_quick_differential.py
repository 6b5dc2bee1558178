"""The lean and quick routes answer as FastAPI's own path would (ADR 0014): the same requests,
sent to the app and to a copy of it whose lean and quick routes are plain FastAPI routes (each
route's standard handler, no route index in its request middleware nor in its router), get the
same status, headers and body (the body compared parsed: see `_VOLATILE`), the same rate-limit
charge and the same access line. Both apps share the database; the requests go in as raw ASGI
scopes, so malformed escapes, invalid UTF-8 and repeated parameters reach the apps exactly as
written. A 500 from either is a failure too."""

from __future__ import annotations

import base64
import copy
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, request_response
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from callplane.app import create_app
from callplane.auth.scopes import Scope
from callplane.config import Settings
from callplane.kit.dispatch import RouteIndex
from callplane.observability.middleware import RequestMiddleware
from callplane.organizations.service import OrganizationService
from tests.factories import Tenant

# Headers that legitimately differ between two apps answering the same request.
# (RateLimit-Remaining is compared: both apps count the same requests, each in its own memory.)
# Content-Length too: the quick agents list's JSON is written by the database, JSON-equal to
# FastAPI's but not byte-equal (PostgreSQL's `"key" : value` spacing; on SQLite the metadata
# as stored, `\u00e9` and `1e-07` where orjson writes `é` and `1e-7`), so bodies are compared
# parsed.
_VOLATILE = frozenset({"date", "ratelimit-reset", "retry-after", "content-length"})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: Any
    raised: str | None


def fastapi_only(app: FastAPI) -> FastAPI:
    """`app` with every lean and quick route served by FastAPI's standard handler for its
    declared endpoint, a request middleware without the route index and the router matching
    as Starlette's does (kit.dispatch steps aside): the reference."""
    routes = app.router.routes
    for position, route in enumerate(routes):
        if getattr(route, "lean_for", None) is not None:
            assert isinstance(route, APIRoute)
            # A copy: the route objects are the domain routers', shared by every app built.
            standard = copy.copy(route)
            standard.app = request_response(APIRoute.get_route_handler(route))
            routes[position] = standard
    stack = app.build_middleware_stack()
    assert isinstance(stack, RequestMiddleware)
    assert isinstance(app.router.middleware_stack, RouteIndex)
    stack.index = None
    app.middleware_stack = stack
    app.router.middleware_stack = app.router.app  # Starlette's own matching, not the index
    return app


async def call(
    app: FastAPI, method: str, target: bytes, headers: dict[str, str], body: bytes = b""
) -> Answer:
    """One request to `app` as a server would hand it over: `target` is the raw request target
    (path percent-decoded into `path` as Uvicorn does, the query string kept as bytes)."""
    raw_path, _, query = target.partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"test")]
        + [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raised = None
    try:
        await app(scope, receive, send)
    except Exception as exc:  # the server would log it; the client got what was sent
        raised = type(exc).__name__
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is None:
        return Answer(500, (), b"", raised or "no response")
    received = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    try:  # the standard library's parser: it reads integers beyond 64 bits
        parsed: Any = json.loads(received) if received else received
    except ValueError:
        parsed = received
    kept = tuple(
        sorted(
            (k.decode().lower(), v.decode("latin-1"))
            for k, v in start.get("headers", ())
            if k.decode().lower() not in _VOLATILE
        )
    )
    return Answer(start["status"], kept, parsed, raised)


def _own_key(headers: dict[str, str], app: str) -> dict[str, str]:
    """`headers` with a well-formed Idempotency-Key of each app's own (both share the database:
    the second would otherwise be answered by replaying the first's answer)."""
    key = headers.get("Idempotency-Key")
    if key is None or not key.isprintable():
        return headers
    return {**headers, "Idempotency-Key": f"{key}-{app}-{uuid.uuid4().hex[:8]}"}


@dataclass
class Pair:
    fast: FastAPI
    reference: FastAPI

    async def differ(
        self, method: str, target: str | bytes, headers: dict[str, str], body: bytes = b""
    ) -> tuple[Answer, Answer] | None:
        """Both answers when they differ (or either is a 500), else None."""
        raw = target.encode() if isinstance(target, str) else target
        headers = {"X-Request-ID": "differential", **headers}
        reference = await call(self.reference, method, raw, _own_key(headers, "r"), body)
        fast = await call(self.fast, method, raw, _own_key(headers, "f"), body)
        if fast != reference or fast.status >= 500 or reference.status >= 500:
            return fast, reference
        return None


@asynccontextmanager
async def app_pair(settings: Settings, **overrides: Any) -> AsyncIterator[Pair]:
    configured = settings.model_copy(update={"workflows": "off", **overrides})
    fast, reference = create_app(configured), fastapi_only(create_app(configured))
    async with AsyncExitStack() as stack:
        for app in (fast, reference):
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield Pair(fast, reference)


@pytest.fixture
async def pair(settings: Settings) -> AsyncIterator[Pair]:
    async with app_pair(settings) as made:
        yield made


async def _key(tenant: Tenant, *scopes: str, expired: bool = False, revoked: bool = False) -> str:
    async with tenant.database.session(write=True) as session, session.begin():
        service = OrganizationService(session, tenant.organization_id)
        expires = datetime.now(UTC) - timedelta(hours=1) if expired else None
        key, issued = await service.create_api_key(
            "differential", scopes=list(scopes) or None, expires_at=expires
        )
        if revoked:
            await service.revoke_api_key(key.id)
    return issued.credential


@dataclass
class World:
    tenant: Tenant
    agent_id: str
    other_agent_id: str
    number: str
    cursors: dict[str, str]
    other_cursors: dict[str, str]
    credentials: dict[str, dict[str, str]]


async def _cursor(tenant: Tenant, path: str) -> str:
    page = await tenant.get(path, params={"limit": 1})
    assert page.status_code == 200, page.text
    cursor: str = page.json()["pagination"]["next_cursor"]
    assert cursor
    return cursor


async def _world(tenant: Tenant, other: Tenant) -> World:
    names = [
        "Ünïcödé Ünïcödé",
        "ÜNÏCÖDÉ ß",
        "Plain",
        "Ünïcödé 名前",
        "100% sure",
        "under_score",
        "back\\slash",
        "a+b c",
    ]
    agents = [await tenant.create_agent(name=name) for name in names]
    tricky = {"b": 0.30000000000000004, "a": 1e300, "c": -0.0, "d": 9007199254740993, "e": 1e-7,
              "f": [1.5, "\u2028\x1f/é"], "g": {"z": None, "y": True}}  # fmt: skip
    await tenant.create_agent(name="Tricky", metadata=tricky, description="line\nbreak \t")
    await tenant.create_agent(name="Off duty", active=False)
    await tenant.create_agent(name="Demo desk", is_demo=True, active=False)
    await tenant.create_agent(name="x")
    await tenant.create_agent(name="xy")
    agent_id = agents[0]["id"]
    for _ in range(2):
        await tenant.create_version(agent_id)
    number = await tenant.register_number()
    await tenant.register_number()
    published = await tenant.publish(agent_id, 1, phone_numbers=[number], direction="inbound")
    assert published.status_code == 200, published.text
    for _ in range(2):
        await tenant.import_conversation(agent_id)
    other_agent = await other.create_agent(name="Theirs")
    await other.create_agent(name="Theirs too")
    await other.create_version(other_agent["id"])
    await other.create_version(other_agent["id"])
    paths = {
        "agents": "/core/agents",
        "versions": f"/core/agents/{agent_id}/versions",
        "conversations": "/core/conversations",
        "phone-numbers": "/core/phone-numbers",
    }
    cursors = {name: await _cursor(tenant, path) for name, path in paths.items()}
    other_cursors = {
        "agents": await _cursor(other, "/core/agents"),
        "versions": await _cursor(other, f"/core/agents/{other_agent['id']}/versions"),
    }
    bearer = {"Authorization": f"Bearer {tenant.api_key}"}
    credentials = {
        "key": bearer,
        "token": tenant.token_headers,
        "token-other-org": {**tenant.token_headers, "X-Anyreach-Org": str(other.organization_id)},
        "none": {},
        "garbage": {"Authorization": "Bearer nope"},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty-bearer": {"Authorization": "Bearer "},
        "expired": {"Authorization": f"Bearer {await _key(tenant, expired=True)}"},
        "revoked": {"Authorization": f"Bearer {await _key(tenant, revoked=True)}"},
        "no-scope": {"Authorization": f"Bearer {await _key(tenant, 'audit:read')}"},
        "agents-read": {"Authorization": f"Bearer {await _key(tenant, 'agents:read')}"},
        "conversations-read": {
            "Authorization": f"Bearer {await _key(tenant, 'conversations:read')}"
        },
        "token-bad-org": {**tenant.token_headers, "X-Anyreach-Org": "nope"},
        "token-no-org": {"Authorization": f"Bearer {tenant.token}"},
        "latin-1": {"Authorization": "Bearer \xff\xfe"},
        "lower-bearer": {"Authorization": f"bearer {tenant.api_key}"},
        "idempotent": {**bearer, "Idempotency-Key": f"differential-{uuid.uuid4()}"},
        "bad-idempotency": {**bearer, "Idempotency-Key": "\x01"},
    }
    return World(tenant, agent_id, other_agent["id"], number, cursors, other_cursors, credentials)


@pytest.fixture
async def world(tenant: Tenant, other_tenant: Tenant) -> World:
    return await _world(tenant, other_tenant)


_LIST_QUERIES = [
    "",
    "limit=5",
    "limit=5&limit=6",
    "limit=",
    "limit=0",
    "limit=101",
    "limit=-1",
    "limit=1.5",
    "limit=1e3",
    "limit=020",
    "limit=99999999999999999999",
    "limit=%35",
    "limit=5&",
    "&&limit=5",
    "limit",
    "=5",
    "unknown=1",
    "limit=5&unknown=",
    "cursor=",
    "cursor=garbage",
    "cursor=%00",
    "cursor=" + "x" * 513,
    "cursor=" + "x" * 512,
    "%ZZ=1",
    "limit=%ZZ",
    "limit=%ff",
    "limit=5;unknown=1",
    "LIMIT=5",
    "limit=5#fragment",
    "limit=5 ",
    "limit= 5",
    "limit=5&" + "a" * 20000 + "=1",
]
_AGENT_QUERIES = [
    "name=",
    "name=Plain",
    "name=plain",
    "name=%25",
    "name=_",
    "name=%5C",
    "name=\\",
    "name=a+b",
    "name=a%20b",
    "name=a%2Bb",
    "name=%C3%9Cn",
    "name=%ff",
    "name=%00",
    "name=x%00y",
    "name=%ZZ",
    "name=" + "n" * 200,
    "name=" + "n" * 201,
    "name=%E5%90%8D" * 67,
    "name=%E5%90%8D" * 66,
    "name=Plain&name=Other",
    "name=%C3%BCn%C3%AF",
    "name=%C3%9CN%C3%8F",
    "name=%C3%9F",
    "name=SS",
    "name=Tricky",
    "name=x",
    "name=X",
    "name=xy",
    "name=%20",
    "name=y%20",
    "name=ff%20d",
    "active=false&is_demo=true",
    "active=false&name=o",
    "is_demo=true&limit=1",
    "name=é",  # raw UTF-8 bytes in the query: read as Latin-1, as Starlette reads them
    "name=Ü+n",
    "name=a b",
    "active=true",
    "active=false",
    "active=True",
    "active=1",
    "active=yes",
    "active=",
    "active=maybe",
    "is_demo=false&active=true&limit=3",
    "metadata=%7B%7D",
    "metadata=garbage",
    "created_after=2020-01-01T00:00:00Z",
    "created_after=yesterday",
]
_VERSION_QUERIES = [
    "version=1",
    "version=0",
    "version=01",
    "version=99999999999",
    "version=",
    "published=true",
    "published=no",
]
_NUMBER_QUERIES = [
    "assigned=true",
    "assigned=false",
    "phone_number=1",
    "phone_number=%2B1",
    "phone_number=+1",
    "phone_number=" + "1" * 65,
    "agent_id={agent}",
    "agent_id={AGENT}",
    "agent_id={other}",
    "agent_id=nope",
    "agent_id={hex}",
    "agent_id=",
]
_CONVERSATION_QUERIES = [
    "channel=text",
    "channel=voice",
    "channel=TEXT",
    "channel=fax",
    "status=completed",
    "status=",
    "direction=inbound",
    "direction=sideways",
    "agent_id={agent}",
    "agent_id={AGENT}",
    "agent_id={other}",
    "agent_id=nope",
]


def _crafted_cursors(agent_id: str) -> list[str]:
    """Cursors a client could forge: odd times (years before 1000, far offsets, naive, date
    only), odd ids, wrong shapes."""
    hex_id = uuid.UUID(agent_id).hex
    times = [
        "0999-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:59:59.999999+00:00",
        "2026-01-01T00:00:00",
        "2026-01-01",
        "2099-01-01T00:00:00+14:00",
        "2099-01-01T00:00:00.5Z",
    ]
    shapes: list[Any] = [
        *([{"t": t}, {"u": hex_id}] for t in times),
        [{"t": "2099-01-01T00:00:00+00:00"}, {"u": hex_id.upper()}],
        [{"t": "2099-01-01T00:00:00+00:00"}, {"u": agent_id}],
        [{"t": "2099-01-01T00:00:00+00:00"}, {"u": "0" * 32}],
        [{"t": "2099-01-01T00:00:00+00:00"}, {"u": "x" * 32}],
        [{"t": "2099-01-01T00:00:00+00:00"}],
        [{"t": "2099-01-01T00:00:00+00:00"}, {"u": hex_id}, 1],
        [{"t": "2099-01-01T00:00:00+00:00"}, 5],
        [5, 2**70],
        {"t": "x"},
        [],
        # A version list's cursor is one version number.
        *([n] for n in [1, 0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**70, True, 1.5, "1", None]),
    ]
    return [
        base64.urlsafe_b64encode(json.dumps(shape).encode()).decode().rstrip("=")
        for shape in shapes
    ]


def _targets(world: World) -> list[str]:
    agent, other = world.agent_id, world.other_agent_id
    fill = {"agent": agent, "AGENT": agent.upper(), "other": other, "hex": agent.replace("-", "")}
    lists = {
        "/core/agents": _AGENT_QUERIES,
        f"/core/agents/{agent}/versions": _VERSION_QUERIES,
        "/core/phone-numbers": _NUMBER_QUERIES,
        "/core/conversations": _CONVERSATION_QUERIES,
    }
    targets: list[str] = []
    for path, own in lists.items():
        for query in [*_LIST_QUERIES, *own]:
            targets.append(f"{path}?{query.format(**fill)}" if query else path)
        targets.append(f"{path}?")
    cursors = world.cursors
    targets += [
        f"/core/agents?cursor={cursors['agents']}",
        f"/core/agents?cursor={cursors['agents']}&limit=2",
        f"/core/agents?cursor={cursors['agents']}x",
        f"/core/agents?cursor={cursors['agents'][:-2]}",
        f"/core/agents?cursor={world.other_cursors['agents']}",
        f"/core/agents?cursor={cursors['versions']}",
        f"/core/agents/{agent}/versions?cursor={cursors['versions']}",
        f"/core/agents/{agent}/versions?cursor={world.other_cursors['versions']}",
        f"/core/agents/{agent}/versions?cursor={cursors['agents']}",
        f"/core/conversations?cursor={cursors['conversations']}",
        f"/core/conversations?cursor={cursors['agents']}",
        f"/core/phone-numbers?cursor={cursors['phone-numbers']}",
        f"/core/phone-numbers?cursor={cursors['conversations']}",
        *(
            f"{path}?cursor={cursor}"
            for path in lists
            for cursor in _crafted_cursors(world.agent_id)
        ),
        # Paths: the detail, its neighbours and malformed ids.
        f"/core/agents/{agent}",
        f"/core/agents/{agent.upper()}",
        f"/core/agents/{agent.replace('-', '')}",
        f"/core/agents/{{{agent}}}",
        f"/core/agents/urn:uuid:{agent}",
        f"/core/agents/{agent}?unknown=1",
        f"/core/agents/{agent}/",
        f"/core/agents/{other}",
        f"/core/agents/{other}/versions",
        f"/core/agents/{other.upper()}/versions",
        f"/core/agents/{uuid.uuid4()}",
        f"/core/agents/{uuid.uuid4()}/versions",
        "/core/agents/not-a-uuid",
        "/core/agents/not-a-uuid/versions",
        "/core/agents/%00",
        "/core/agents/%ff",
        "/core/agents/%ZZ",
        f"/core/agents/{agent.replace('-', '')}/versions",
        "/core/agents/",
        "/core/agents//",
        "//core/agents",
        "/core//agents",
        "/core/agents/?limit=5",
        # Routing resolve.
        "/core/routing/resolve",
        f"/core/routing/resolve?phone_number={world.number}",
        f"/core/routing/resolve?phone_number={world.number.replace('+', '%2B')}",
        f"/core/routing/resolve?phone_number={world.number.replace('+', '%2B')}&direction=inbound",
        "/core/routing/resolve?phone_number=%2B1&direction=sideways",
        "/core/routing/resolve?phone_number=" + "1" * 65,
        "/core/routing/resolve?phone_number=",
        "/core/routing/resolve?phone_number=%ff",
        "/core/routing/resolve?phone_number=%00",
        "/core/routing/resolve?phone_number=1&phone_number=2",
        f"/core/routing/resolve?sip_uri=sip:{agent}@sip.test.local",
        f"/core/routing/resolve?sip_uri=sip:{other}@sip.test.local",
        "/core/routing/resolve?sip_uri=",
        "/core/routing/resolve?sip_uri=sip:x@y&phone_number=1",
        "/core/routing/resolve?direction=inbound",
        "/core/routing/resolve?unknown=1",
        "/core/routing/resolve/",
    ]
    return targets


async def _differences(
    pair: Pair, world: World, methods: list[str], credentials: list[str], extra: dict[str, str]
) -> list[str]:
    found = []
    for target in _targets(world):
        for method in methods:
            for name in credentials:
                headers = {**world.credentials[name], **extra}
                answers = await pair.differ(method, target, headers)
                if answers is not None:
                    found.append(
                        f"{method} {target[:120]} [{name}]\n  fast: {answers[0]}"
                        f"\n  ref:  {answers[1]}"
                    )
    return found


async def test_get_with_an_api_key(world: World, pair: Pair) -> None:
    found = await _differences(pair, world, ["GET"], ["key"], {})
    assert not found, "\n".join(found)


async def test_other_methods(world: World, pair: Pair) -> None:
    found = await _differences(pair, world, ["HEAD", "OPTIONS", "PATCH", "TRACE"], ["key"], {})
    assert not found, "\n".join(found)


async def test_credentials(world: World, pair: Pair) -> None:
    names = [name for name in world.credentials if name != "key"]
    found = await _differences(pair, world, ["GET"], names, {})
    assert not found, "\n".join(found)


async def test_resolve_if_none_match(world: World, pair: Pair) -> None:
    number = world.number.replace("+", "%2B")
    targets = [
        f"/core/routing/resolve?phone_number={number}",
        f"/core/routing/resolve?phone_number={number}&direction=inbound",
    ]
    found = []
    for target in targets:
        first = await call(pair.fast, "GET", target.encode(), world.credentials["key"])
        assert first.status == 200, first
        etag = dict(first.headers)["etag"]
        for value in [
            etag,
            f"W/{etag}",
            etag.strip('"'),
            "*",
            f'"other", {etag}',
            '"other"',
            "",
            " ",
            f"{etag}, garbage",
            etag.upper(),
        ]:
            for name in ["key", "none", "no-scope"]:
                headers = {**world.credentials[name], "If-None-Match": value}
                answers = await pair.differ("GET", target, headers)
                if answers is not None:
                    found.append(f"{target} If-None-Match {value!r} [{name}]: {answers}")
    assert not found, "\n".join(found)


def _sequence(world: World) -> list[str]:
    agent = world.agent_id
    return [
        "/core/agents?limit=5",  # quick, accepted
        "/core/agents?limit=0",  # quick, refused: FastAPI's 422
        "/core/agents?limit=5&name=%ZZ",  # quick, refused, valid
        f"/core/agents/{agent}",  # lean
        "/core/agents/not-a-uuid",  # lean, 422
        f"/core/agents/{agent}/versions?limit=1",
        "/core/conversations?channel=fax",
        "/core/phone-numbers?assigned=true",
        "/core/routing/resolve?direction=sideways",  # lean, 422
        "/core/routing/resolve?phone_number=%2B1",  # lean, 404
    ]


async def test_rate_limit_charge_and_429(world: World, settings: Settings) -> None:
    """Each request is charged once, whichever path serves it, and the 429 comes first."""
    found = []
    async with app_pair(settings, rate_limit_requests=13, rate_limit_backend="memory") as pair:
        for credential in ["key", "no-scope", "idempotent"]:
            for target in _sequence(world) * 2:
                answers = await pair.differ("GET", target, world.credentials[credential])
                if answers is not None:
                    found.append(f"{target} [{credential}]: {answers}")
    assert not found, "\n".join(found)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[Any, ...]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = ("request_id", "method", "route", "path", "status")
        self.lines.append(
            (
                record.getMessage(),
                *(getattr(record, name, None) for name in fields),
                getattr(record, "organization_id", None),
                getattr(record, "credential_id", None),
            )
        )


async def test_access_log(world: World, settings: Settings) -> None:
    """One access line per request, naming the same route, status and caller."""
    lines = _Lines()
    logger = logging.getLogger("callplane.access")
    logger.addHandler(lines)
    previous = logger.level
    logger.setLevel(logging.INFO)
    found = []
    try:
        async with app_pair(settings, access_log=True) as pair:
            for credential in ["key", "none", "no-scope", "idempotent"]:
                for target in _sequence(world):
                    headers = {"X-Request-ID": "differential", **world.credentials[credential]}
                    await call(pair.reference, "GET", target.encode(), headers)
                    await call(pair.fast, "GET", target.encode(), headers)
                    reference, fast = lines.lines[-2:]
                    if reference != fast or len(lines.lines) % 2:
                        found.append(f"{target} [{credential}]:\n  fast {fast}\n  ref  {reference}")
    finally:
        logger.removeHandler(lines)
        logger.setLevel(previous)
    assert len(lines.lines) == 2 * 4 * len(_sequence(world))
    assert not found, "\n".join(found)


_NAMES = [
    "limit", "cursor", "name", "active", "is_demo", "agent_id", "channel", "status", "direction",
    "version", "published", "phone_number", "assigned", "sip_uri", "metadata", "unknown", "LIMIT",
    "",
]  # fmt: skip
_VALUES = [
    "", "0", "1", "5", "20", "100", "101", "-1", "05", "1e3", "1.0", "true", "false", "True",
    "yes", "text", "voice", "inbound", "outbound", "completed", "%", "_", "\\", "\x00", "\xff",
    "é", "名", "+", " ", "=", "&", "n" * 200, "n" * 201, "{agent}", "{AGENT}", "{other}",
    "not-a-uuid", "{cursor}", "{other_cursor}", "{number}",
]  # fmt: skip
_PATHS = [
    "/core/agents",
    "/core/agents/{agent}/versions",
    "/core/agents/{other}/versions",
    "/core/phone-numbers",
    "/core/conversations",
    "/core/routing/resolve",
    "/core/agents/{agent}",
]


def _escaped(draw: st.DrawFn, raw: str) -> str:
    """`raw` as a client might put it in a query: as is (when it can be), escaped, `+` for
    spaces, or with a broken escape."""

    how = draw(st.sampled_from(["raw", "quote", "plus", "broken"]))
    if how == "raw" and all(c.isalnum() or c in "-_.~:{}@" for c in raw):
        return raw
    if how == "broken":
        return quote(raw, safe="") + draw(st.sampled_from(["%", "%Z", "%ZZ", "%ff", "%C3"]))
    return quote_plus(raw, safe="") if how == "plus" else quote(raw, safe="")


@st.composite
def _queries(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]], str]:
    path = draw(st.sampled_from(_PATHS))
    pairs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(_NAMES),
                st.one_of(st.sampled_from(_VALUES), st.text(max_size=6)),
            ),
            max_size=4,
        )
    )
    separator = draw(st.sampled_from(["&", "&", "&", ";", "&&"]))
    # The pieces are escaped by the test, once their placeholders are filled in.
    mode = draw(st.sampled_from(["escaped", "escaped", "bare-name"]))
    return path, pairs, separator + "|" + mode


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=_queries(), data=st.data())
async def test_random_queries(world: World, pair: Pair, query: Any, data: st.DataObject) -> None:
    path, pairs, how = query
    separator, mode = how.split("|")
    fill = {
        "agent": world.agent_id,
        "AGENT": world.agent_id.upper(),
        "other": world.other_agent_id,
        "cursor": world.cursors["agents"],
        "other_cursor": world.other_cursors["versions"],
        "number": world.number,
    }
    pieces = []
    for name, value in pairs:
        filled = fill.get(value.strip("{}"), value) if value in _VALUES else value
        value_text = _escaped(data.draw, filled)
        name_text = name if mode == "bare-name" else _escaped(data.draw, name)
        # An empty value written `name=` or just `name`.
        pieces.append(f"{name_text}={value_text}" if value or data.draw(st.booleans()) else name)
    target = path.format(**fill) + ("?" + separator.join(pieces) if pieces else "")
    credential = data.draw(st.sampled_from(["key", "key", "none", "no-scope", "agents-read"]))
    answers = await pair.differ("GET", target, world.credentials[credential])
    assert answers is None, f"{target} [{credential}]: {answers}"


async def test_each_scope_alone(world: World, pair: Pair) -> None:
    """A key holding one scope: the lean and quick handlers accept exactly the scopes the
    declared endpoints' `Requires` accept, and refuse the others first (403 before 422)."""
    agent = world.agent_id
    targets = [
        "/core/agents?limit=2",
        "/core/agents?limit=0",
        f"/core/agents/{agent}",
        "/core/agents/not-a-uuid",
        f"/core/agents/{agent}/versions?limit=1",
        f"/core/agents/{agent}/versions?limit=0",
        "/core/phone-numbers?assigned=true",
        "/core/phone-numbers?assigned=maybe",
        "/core/conversations?channel=text",
        "/core/conversations?channel=fax",
        f"/core/routing/resolve?phone_number={world.number.replace('+', '%2B')}",
        "/core/routing/resolve?direction=sideways",
    ]
    found = []
    for scope in Scope:
        headers = {"Authorization": f"Bearer {await _key(world.tenant, scope.value)}"}
        for target in targets:
            answers = await pair.differ("GET", target, headers)
            if answers is not None:
                found.append(f"{target} [{scope.value}]: {answers}")
    assert not found, "\n".join(found)


async def test_get_with_a_body(world: World, pair: Pair) -> None:
    """A body on a GET is buffered (and refused) before any route sees it, and otherwise
    ignored by both paths."""
    agent = world.agent_id
    bodies: list[tuple[bytes, dict[str, str]]] = [
        (b'{"a": 1, "a": 2}', {"Content-Type": "application/json"}),
        (b"not json", {"Content-Type": "application/json"}),
        (b"x" * (2 * 1024 * 1024), {}),
        (b"limit=1", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"--b\r\n", {"Content-Type": "multipart/form-data; boundary=b"}),
    ]
    found = []
    for target in ["/core/agents?limit=2", f"/core/agents/{agent}", "/core/conversations"]:
        for body, headers in bodies:
            sent = {**world.credentials["key"], **headers, "Content-Length": str(len(body))}
            answers = await pair.differ("GET", target, sent, body)
            if answers is not None:
                found.append(f"{target} {body[:20]!r}: {answers}")
    assert not found, "\n".join(found)


async def test_other_routes_are_matched_as_starlette_matches_them(world: World, pair: Pair) -> None:
    """kit.dispatch's route index against Starlette's own matching: the same route, 404, 405
    (with its Allow) or redirect for any path."""
    agent = world.agent_id
    paths = [
        "/",
        "/health",
        "/health/",
        "/ready",
        "/openapi.json",
        "/docs",
        "/docs-assets/missing.js",
        "/widget.js",
        "/core",
        "/core/",
        "/core/nothing",
        "/core/routing",
        "/core/routing/",
        "/core/agents/x/y/z",
        f"/core/agents/{agent}/versions/1",
        f"/core/agents/{agent}/versions/latest",
        f"/core/agents/{agent}/versions/0",
        f"/core/agents/{agent}/versions/",
        f"/core/agents/{agent}/tests",
        "/core/agent-config-schema",
        "/core/webhooks",
        "/core/webhooks/",
        "/core/audit-events?limit=2",
        "/core/public/x",
        "/console",
        "/console/",
        "/console/static/missing.css",
        "/voice/twilio",
        "/admin/organization-pats",
        "/core/agents?limit=5&x=%ZZ",
    ]
    found = []
    for path in paths:
        for method in ["GET", "HEAD", "OPTIONS", "DELETE", "PATCH"]:
            if method in ("DELETE", "PATCH") and path.count("/") > 2:
                continue  # a real resource: nothing is changed here
            answers = await pair.differ(method, path, world.credentials["key"])
            if answers is not None:
                found.append(f"{method} {path}: {answers}")
    assert not found, "\n".join(found)


async def test_an_idempotency_key_reused(world: World, pair: Pair) -> None:
    """The same Idempotency-Key twice (each app its own key): the replay is the same in both."""
    agent = world.agent_id
    targets = [
        "/core/agents?limit=2",
        "/core/agents?limit=0",
        f"/core/agents/{agent}",
        f"/core/agents/{agent}/versions",
        "/core/conversations?channel=text",
        "/core/routing/resolve?direction=sideways",
    ]
    found = []
    for target in targets:
        answers = []
        for app in (pair.reference, pair.fast):
            headers = {
                **world.credentials["key"],
                "X-Request-ID": "differential",
                "Idempotency-Key": f"reused-{uuid.uuid4()}",
            }
            first = await call(app, "GET", target.encode(), headers)
            other = {**headers, "X-Request-ID": "again"}
            second = await call(app, "GET", target.encode(), other)
            changed = target + ("&" if "?" in target else "?") + "limit=3"
            different_query = await call(app, "GET", changed.encode(), other)
            answers.append((first, second, different_query))
        if answers[0] != answers[1]:
            found.append(f"{target}:\n  ref  {answers[0]}\n  fast {answers[1]}")
    assert not found, "\n".join(found)
