"""The authorization matrix, generated from the app's own route table.

Every route not explicitly listed as public must demand a credential, must refuse a key whose
scopes it does not accept (naming them), must accept the scope family the SPEC assigns it, and
must answer 404 for another organization's resources. A new route is checked automatically; a new
path parameter or request body must be added to the tables below, or the suite fails loudly.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from callplane.auth.scopes import ALL_SCOPES
from callplane.db.engine import Database
from tests.factories import Tenant, unique_phone_number

# Routes anyone may call. Anything else must answer 401 without a credential.
PUBLIC_ROUTES = frozenset(
    {
        "/health",
        "/ready",
        "/metrics",  # public in development/test; CALLPLANE_METRICS_TOKEN guards it elsewhere
        "/docs",
        "/openapi.json",
        "/docs-assets",
        "/core/public/web-widgets/{widget_id}",
        # The widget's chat: no credential; Origin, rate limit and a per-conversation token
        # guard it (tests/widgets/test_widget_chat.py).
        "/core/public/web-widgets/{widget_id}/conversations",
        "/core/public/web-widgets/{widget_id}/conversations/{conversation_id}",
        "/core/public/web-widgets/{widget_id}/conversations/{conversation_id}/messages",
        "/widget.js",
        "/console/static",
        # Carriers' call webhooks: no credential; each request is signed with the organization's
        # carrier credentials (tests/voice/test_webhooks.py).
        "/voice/twilio/incoming",
        "/voice/telnyx/incoming",
    }
)
# The web console authenticates with its session cookie and CSRF token, not a bearer credential,
# and checks the same scopes itself: tests/console covers it (sessions, scopes, CSRF, tenancy).
CONSOLE = "/console"

# Routes that accept any valid credential (no scope needed).
ANY_CREDENTIAL_ROUTES = frozenset({("GET", "/admin/members/me/scopes")})

# POST routes that only read (they take a body but change nothing), so they need a read scope.
READ_ONLY_POSTS = frozenset(
    {
        ("POST", "/core/agents/{agent_id}/versions/compare"),
        ("POST", "/core/agent-config/validate"),
        ("POST", "/core/knowledge-collections/{collection_id}/search"),
    }
)

# Path prefix -> scope family (longest prefix wins).
SCOPE_FAMILIES = {
    "/core/agents": "agents",
    "/core/agent-config": "agents",
    "/core/workflows": "agents",
    "/core/test-runs": "agents",
    "/core/analytics": "conversations",
    "/core/phone-numbers": "phone_numbers",
    "/core/routing": "agents",  # a voice runtime reads agent configs
    "/core/web-widgets": "web_widgets",
    "/core/conversations": "conversations",
    "/core/agents/{agent_id}/conversations": "conversations",  # starting a live conversation
    "/core/knowledge-collections": "knowledge_bases",
    "/admin/organization-pats": "api_keys",
    "/core/audit-events": "audit",
    "/core/webhooks": "webhooks",
    "/core/telephony": "phone_numbers",  # carrier credentials of the voice gateway
}

# Valid bodies for the write routes that take an id, so the 404 (not a 422) is what we observe.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/core/agents/{agent_id}"): {"name": "Hijacked"},
    ("POST", "/core/agents/{agent_id}/versions"): {"config": {"instructions": "Hijacked"}},
    ("PUT", "/core/agents/{agent_id}/versions/{version}"): {"config": {"instructions": "Hijacked"}},
    ("POST", "/core/agents/{agent_id}/versions/{version}/publish"): {},
    ("POST", "/core/agents/{agent_id}/rollback"): {"to_version": 1},
    ("POST", "/core/agents/{agent_id}/versions/compare"): {"from_version": 1, "to_version": 1},
    ("PATCH", "/core/phone-numbers/{phone_number}"): {"label": "Hijacked"},
    ("PATCH", "/core/web-widgets/{widget_id}"): {"published": False},
    ("PATCH", "/core/webhooks/{webhook_id}"): {"active": True},
    ("POST", "/core/knowledge-collections/{collection_id}/search"): {"query": "hours"},
    ("POST", "/core/conversations/{conversation_id}/messages"): {"content": "Hijacked"},
    ("PATCH", "/core/knowledge-collections/{collection_id}"): {"name": "Hijacked"},
    ("POST", "/core/knowledge-collections/{collection_id}/crawl"): {"url": "http://127.0.0.1:9/"},
    ("POST", "/core/agents/{agent_id}/tests"): {
        "name": "Hijacked",
        "turns": ["Hi"],
        "expectations": [{"type": "max_turns", "turns": 1}],
    },
    ("PUT", "/core/agents/{agent_id}/tests/{test_id}"): {
        "name": "Hijacked",
        "turns": ["Hi"],
        "expectations": [{"type": "max_turns", "turns": 1}],
    },
    ("PUT", "/core/agents/{agent_id}/test-settings"): {"require_passing_tests": True},
}

# Required query parameters, so the 404 (not a 422) is what we observe.
QUERIES: dict[tuple[str, str], str] = {
    ("GET", "/core/agents/{agent_id}/versions/diff"): "?from=1&to=1",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    path_params: tuple[str, ...]
    has_body: bool
    accepted: tuple[str, ...] | None  # the scopes given to Requires(...); None: no Requires

    @property
    def accepted_scopes(self) -> frozenset[str] | None:
        return None if self.accepted is None else frozenset(self.accepted)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _requires_scopes(dependant: Dependant) -> tuple[str, ...] | None:
    """The scopes passed to `Requires(...)` anywhere in a route's dependency tree."""
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and getattr(call, "__qualname__", "") == "Requires.<locals>.dependency":
            accepted = inspect.getclosurevars(call).nonlocals["accepted"]
            return tuple(str(scope) for scope in accepted)
        found = _requires_scopes(sub)
        if found is not None:
            return found
    return None


def route_paths(app: FastAPI) -> set[str]:
    return {context.path for context in iter_route_contexts(app.routes) if context.path}


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, path) the app serves, from its route table (includes nested routers)."""
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        if context.path == CONSOLE or context.path.startswith(CONSOLE + "/"):
            continue
        dependant = context.dependant
        for method in sorted(set(context.methods or ()) - {"HEAD"}):
            yield Endpoint(
                method,
                context.path,
                tuple(param.name for param in dependant.path_params),
                context.body_field is not None,
                _requires_scopes(dependant),
            )


def protected_endpoints(app: FastAPI) -> list[Endpoint]:
    found = [e for e in endpoints(app) if e.path not in PUBLIC_ROUTES]
    assert len(found) > 20, "the route table walk found suspiciously few routes"
    return found


def fill_path(endpoint: Endpoint, values: dict[str, str]) -> str:
    path = endpoint.path
    for name in endpoint.path_params:
        if name not in values:
            pytest.fail(
                f"{endpoint} has path parameter {name!r} unknown to the authorization matrix: "
                "add it to the parameter tables in tests/auth/test_authorization_matrix.py"
            )
        path = path.replace("{" + name + "}", values[name])
    return path


def dummy_values() -> dict[str, str]:
    """Well-formed ids that exist nowhere."""
    return {
        "agent_id": str(uuid.uuid4()),
        "version": "1",
        "phone_number": unique_phone_number(),
        "widget_id": str(uuid.uuid4()),
        "conversation_id": str(uuid.uuid4()),
        "test_id": str(uuid.uuid4()),
        "run_id": str(uuid.uuid4()),
        "key_id": uuid.uuid4().hex,
        "workflow_id": str(uuid.uuid4()),
        "collection_id": str(uuid.uuid4()),
        "webhook_id": str(uuid.uuid4()),
        "delivery_id": str(uuid.uuid4()),
        "document_id": str(uuid.uuid4()),
        "provider": "twilio",
    }


def body_for(endpoint: Endpoint) -> Any:
    return BODIES.get((endpoint.method, endpoint.path), {}) if endpoint.has_body else None


async def call(
    client: httpx.AsyncClient, endpoint: Endpoint, path: str, headers: dict[str, str]
) -> httpx.Response:
    body = body_for(endpoint)
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    path += QUERIES.get((endpoint.method, endpoint.path), "")
    return await client.request(endpoint.method, path, headers=headers, **kwargs)


def _app(client: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    return app


async def test_public_route_list_is_current(client: httpx.AsyncClient) -> None:
    """A stale entry here would silently exempt a future route from the checks."""
    missing = PUBLIC_ROUTES - route_paths(_app(client))
    assert missing == set()


async def test_public_routes_answer_without_credential(client: httpx.AsyncClient) -> None:
    for path in (
        "/health",
        "/ready",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/docs-assets/swagger-ui.css",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
    response = await client.get(f"/core/public/web-widgets/{uuid.uuid4()}")
    assert response.status_code == 404  # unknown widget, but no 401: no credential is needed


async def test_every_non_public_route_requires_a_credential(client: httpx.AsyncClient) -> None:
    failures = []
    values = dummy_values()
    for endpoint in protected_endpoints(_app(client)):
        path = fill_path(endpoint, values)
        for headers in ({}, {"Authorization": "Bearer ak_garbage"}):
            response = await call(client, endpoint, path, headers)
            body = response.json() if response.content else None
            if (
                response.status_code != 401
                or response.headers.get("www-authenticate") != "Bearer"
                or not isinstance(body, dict)
                or body.get("code") != "unauthorized"
            ):
                failures.append(f"{endpoint} {headers}: {response.status_code} {response.text}")
    assert failures == []


async def test_every_protected_route_declares_its_scopes(client: httpx.AsyncClient) -> None:
    """Scopes per the SPEC: reads accept the family's read scope, writes require its manage."""
    failures = []
    for endpoint in protected_endpoints(_app(client)):
        accepted = endpoint.accepted_scopes
        if accepted is None:
            failures.append(f"{endpoint}: no Requires(...) dependency")
            continue
        if (endpoint.method, endpoint.path) in ANY_CREDENTIAL_ROUTES:
            if accepted:
                failures.append(f"{endpoint}: should accept any credential, accepts {accepted}")
            continue
        family = next(
            (
                SCOPE_FAMILIES[prefix]
                for prefix in sorted(SCOPE_FAMILIES, key=len, reverse=True)
                if endpoint.path.startswith(prefix)
            ),
            None,
        )
        if family is None:
            pytest.fail(f"{endpoint}: no scope family known; add its prefix to SCOPE_FAMILIES")
        if family in ("api_keys", "webhooks"):  # reads need manage too: they reveal secrets/targets
            expected_ok = accepted == {f"{family}:manage"}
        elif endpoint.method == "GET" or (endpoint.method, endpoint.path) in READ_ONLY_POSTS:
            allowed = {f"{family}:read", f"{family}:manage", f"{family}:read_sensitive"}
            expected_ok = f"{family}:read" in accepted and accepted <= allowed
        else:
            expected_ok = accepted == {f"{family}:manage"}
        if not expected_ok:
            failures.append(f"{endpoint}: accepts {sorted(accepted)}")
    assert failures == []


async def test_agent_reads_accept_read_or_manage(client: httpx.AsyncClient) -> None:
    """The seed: agent reads accept agents:read or agents:manage."""
    for endpoint in protected_endpoints(_app(client)):
        if endpoint.method == "GET" and endpoint.path.startswith("/core/agents"):
            assert endpoint.accepted_scopes == {"agents:read", "agents:manage"}, str(endpoint)


async def test_unrelated_scope_is_403_naming_the_required_scope(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    keys: dict[str, dict[str, str]] = {}
    failures = []
    values = dummy_values()
    for endpoint in protected_endpoints(_app(client)):
        accepted = endpoint.accepted_scopes or frozenset()
        unrelated = sorted(ALL_SCOPES - accepted)[0]
        if unrelated not in keys:
            keys[unrelated] = await tenant.key_with(unrelated)
        response = await call(client, endpoint, fill_path(endpoint, values), keys[unrelated])
        if (endpoint.method, endpoint.path) in ANY_CREDENTIAL_ROUTES:
            if response.status_code != 200:
                failures.append(f"{endpoint}: {response.status_code} {response.text}")
            continue
        expected = {
            "detail": f"Missing scope: requires {' or '.join(endpoint.accepted or ())}.",
            "code": "forbidden",
        }
        if response.status_code != 403 or response.json() != expected:
            failures.append(f"{endpoint}: {response.status_code} {response.text}")
    assert failures == []


async def test_the_accepted_scope_alone_passes_authorization(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """A key holding only one accepted scope is let through (any answer but 401/403)."""
    keys: dict[str, dict[str, str]] = {}
    failures = []
    values = dummy_values()
    for endpoint in protected_endpoints(_app(client)):
        for scope in sorted(endpoint.accepted_scopes or {"members:read"}):
            if scope not in keys:
                keys[scope] = await tenant.key_with(scope)
            response = await call(client, endpoint, fill_path(endpoint, values), keys[scope])
            if response.status_code in (401, 403):
                failures.append(f"{endpoint} with {scope}: {response.status_code}")
    assert failures == []


async def test_another_organizations_resources_are_404_everywhere(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    """Tenant B, with every scope, probes tenant A's real ids on every route that takes one."""
    key = await tenant.post("/admin/organization-pats", json={"name": "A's key"})
    assert key.status_code == 201
    values = {**await tenant.one_of_everything(), "key_id": key.json()["key_id"]}

    failures = []
    probed = 0
    for endpoint in protected_endpoints(_app(client)):
        if not endpoint.path_params:
            continue
        probed += 1
        response = await call(client, endpoint, fill_path(endpoint, values), other_tenant.headers)
        body = response.json() if response.content else None
        if (
            response.status_code != 404
            or not isinstance(body, dict)
            or set(body)
            != {
                "detail",
                "code",
            }
        ):
            failures.append(f"{endpoint}: {response.status_code} {response.text}")
    assert failures == []
    assert probed >= 15

    # Tenant A's resources are untouched.
    detail = (await tenant.get(f"/core/agents/{values['agent_id']}")).json()
    assert detail["name"] == "Agent" and detail["live_version"] == 1
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["sip_endpoint"]["enabled"] is False
    phone = (await tenant.get(f"/core/phone-numbers/{values['phone_number']}")).json()
    assert phone["label"] == "Main line"
    assert (await tenant.get(f"/core/web-widgets/{values['widget_id']}")).json()["published"]
    conversation = await tenant.get(f"/core/conversations/{values['conversation_id']}")
    assert conversation.status_code == 200
    listed = (await tenant.get("/admin/organization-pats?limit=100")).json()["data"]
    mine = [k for k in listed if k["key_id"] == values["key_id"]]
    assert len(mine) == 1 and mine[0]["revoked_at"] is None
    assert (await tenant.get(f"/core/webhooks/{values['webhook_id']}")).json()["active"] is False
    # ...and tenant B gained nothing.
    assert (await other_tenant.get("/core/agents")).json()["data"] == []
    assert (await other_tenant.get("/core/web-widgets")).json()["data"] == []
