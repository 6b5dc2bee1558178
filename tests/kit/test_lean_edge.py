"""Lean routes are served by the request middleware, the app's outermost layer (kit/lean.py):
their errors must be the app's answers, as for any route, and every response, 500s included,
carries one X-Request-ID."""

from __future__ import annotations

import pytest

from callplane.agents import endpoints as agent_endpoints
from callplane.config import Settings
from callplane.kit.lean import ErrorHandlers
from tests.apps import another_app
from tests.factories import Tenant


class _Bug(Exception):
    pass


async def _broken(*_: object, **__: object) -> object:
    raise _Bug("a bug in the handler")


@pytest.mark.parametrize(
    "path",
    [
        "/core/agents/{id}",
        "/core/agents/{id}/versions",
        "/core/agents?limit=5",
        "/core/agents?metadata=%7B%7D",
    ],
)
async def test_an_unhandled_error_is_the_apps_500_with_one_request_id(
    settings: Settings, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The lean detail route, quick routes (served by the request middleware too) and a FastAPI
    route: the same 500, X-Request-ID once."""
    agent = await tenant.create_agent()
    monkeypatch.setattr(agent_endpoints, "agent_detail", _broken)
    monkeypatch.setattr(agent_endpoints, "list_json", _broken)
    monkeypatch.setattr(agent_endpoints, "sqlite_list_json", _broken)
    monkeypatch.setattr("callplane.agents.repository.AgentRepository.list", _broken)
    monkeypatch.setattr("callplane.kit.quick.endpoint_page", _broken)
    monkeypatch.setattr("callplane.versions.endpoints.VersionService.list", _broken)
    async with another_app(settings, raise_app_exceptions=False) as client:
        response = await client.get(
            path.format(id=agent["id"]), headers={**tenant.headers, "X-Request-ID": "bug-1"}
        )
    assert response.status_code == 500, response.text
    assert response.headers.get_list("x-request-id") == ["bug-1"]
    assert response.json() == {
        "detail": "Internal server error. Quote request id bug-1 when reporting it.",
        "code": "internal_error",
    }


async def test_an_unhandled_error_is_raised_for_the_server_to_log(
    settings: Settings, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await tenant.create_agent()
    monkeypatch.setattr(agent_endpoints, "agent_detail", _broken)
    async with another_app(settings) as client:
        with pytest.raises(_Bug):
            await client.get(f"/core/agents/{agent['id']}", headers=tenant.headers)


async def test_lean_errors_are_the_apps_handlers(tenant: Tenant) -> None:
    """404 (AppError), 422 (RequestValidationError), 401 from the lean route, each with one
    request id."""
    missing = await tenant.get("/core/agents/01a2244b-4217-7412-bad1-f538ab1badcc")
    assert missing.status_code == 404
    assert missing.json()["code"] == "agent_not_found"
    assert len(missing.headers.get_list("x-request-id")) == 1
    invalid = await tenant.get("/core/agents/not-a-uuid")
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["path", "agent_id"]
    anonymous = await tenant.client.get("/core/agents/not-a-uuid")
    assert anonymous.status_code == 401 and "x-request-id" in anonymous.headers


def test_handlers_are_looked_up_as_starlette_does() -> None:
    async def by_class(*_: object) -> None: ...
    async def by_status(*_: object) -> None: ...
    async def fallback(*_: object) -> None: ...

    def plain(*_: object) -> None: ...

    from starlette.exceptions import HTTPException

    handlers = ErrorHandlers(
        {LookupError: by_class, 418: by_status, Exception: fallback, ValueError: plain}
    )
    assert handlers.handler_for(KeyError("x")) is by_class  # nearest class in the MRO
    assert handlers.handler_for(HTTPException(418)) is by_status
    assert handlers.handler_for(HTTPException(400)) is None
    assert handlers.handler_for(RuntimeError()) is None  # the 500 handler is apart
    assert handlers.server_error is fallback
    assert handlers.handler_for(ValueError()) is not None  # a plain function, run in a thread
