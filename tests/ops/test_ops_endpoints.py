"""Operational endpoints: liveness, readiness, the OpenAPI document and offline /docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.engine import make_url

from callplane.config import Settings
from callplane.db import migrate
from tests.apps import another_app


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_needs_no_database() -> None:
    """An app whose database is down is still alive, and not ready."""
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"  # port 1: refused at once
    async with another_app(Settings(env="test", database_url=unreachable)) as client:
        health = await client.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert "x-request-id" in ready.headers


async def test_ready_at_migration_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["migration"] == body["expected_migration"] == migrate.head_revision()
    assert body["migration"] is not None


async def test_not_ready_before_migrations(tmp_path: Path, is_postgres: bool) -> None:
    """A fresh, unmigrated database answers 503 migrations_pending (checked on SQLite)."""
    if is_postgres:
        pytest.skip("an empty PostgreSQL database would need creating; SQLite shows the same")
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert make_url(url).get_backend_name() == "sqlite"
    async with another_app(Settings(env="test", database_url=url)) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "migrations_pending" and body["migration"] is None
    assert body["expected_migration"] == migrate.head_revision()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def check_openapi_document(schema: dict[str, Any]) -> None:
    """The structural rules of OpenAPI 3.1 that a generator can get wrong."""
    assert re.fullmatch(r"3\.1\.[0-9]+", schema["openapi"])
    assert schema["info"]["title"] and schema["info"]["version"]
    components = schema["components"]["schemas"]
    for component in components.values():
        Draft202012Validator.check_schema(component)
    for ref in _refs(schema):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[-1] in components, ref
    operation_ids = []
    for path, operations in schema["paths"].items():
        assert path.startswith("/")
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, operation in operations.items():
            assert method in {"get", "put", "post", "delete", "patch", "options", "head"}
            assert operation["responses"], (method, path)
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5][0-9][0-9]|default", status), (method, path, status)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (method, path)
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in {"path", "query", "header", "cookie"}
                if parameter["in"] == "path":
                    assert parameter["required"] is True
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids))


async def test_openapi_is_valid_and_lists_the_agent_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    schema = response.json()
    check_openapi_document(schema)
    paths = schema["paths"]
    assert set(paths["/core/agents"]) == {"get", "post"}
    assert set(paths["/core/agents/{agent_id}"]) == {"get", "put", "delete"}
    assert "post" in paths["/core/agents/{agent_id}/versions/{version}/publish"]
    assert {"post", "get"} <= set(paths["/admin/organization-pats"])
    assert "/docs" not in paths
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert paths["/core/agents"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/health"]["get"]


async def test_docs_use_only_local_assets(client: httpx.AsyncClient) -> None:
    """The machine may be offline: /docs must not reach a CDN."""
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/docs-assets/"), asset
        fetched = await client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100, asset
    assert "'/openapi.json'" in html or '"/openapi.json"' in html


async def test_unknown_docs_asset_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs-assets/no-such-file.js")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}
