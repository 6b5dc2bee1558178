"""Mounts every domain router; auth errors are documented on every authenticated route."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field

from callplane.agent_config.endpoints import router as agent_config_router
from callplane.agents.endpoints import router as agents_router
from callplane.agenttests.endpoints import router as agent_tests_router
from callplane.agenttests.endpoints import runs_router as test_runs_router
from callplane.analytics.endpoints import router as analytics_router
from callplane.audit.endpoints import router as audit_router
from callplane.conversations.endpoints import agent_router as live_conversations_router
from callplane.conversations.endpoints import router as conversations_router
from callplane.errors import (
    BadRequest,
    DatabaseUnavailable,
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
    UnprocessableRequest,
    ValidationErrorBody,
    merge_responses,
)
from callplane.idempotency.errors import IdempotencyKeyInFlight
from callplane.idempotency.middleware import KEY_PATTERN
from callplane.kit.middleware import BODY_METHODS
from callplane.knowledge.endpoints import router as knowledge_router
from callplane.observability.endpoints import router as metrics_router
from callplane.ops.endpoints import router as ops_router
from callplane.organizations.endpoints import router as admin_router
from callplane.phone_numbers.endpoints import router as phone_numbers_router
from callplane.publishing.endpoints import router as publishing_router
from callplane.ratelimit.errors import RateLimited
from callplane.routing.endpoints import router as routing_router
from callplane.scaffolding.endpoints import router as scaffolding_router
from callplane.sip.endpoints import router as sip_router
from callplane.versions.comparison import router as comparison_router
from callplane.versions.endpoints import router as versions_router
from callplane.voice.endpoints import public_router as voice_gateway_router
from callplane.voice.endpoints import router as telephony_router
from callplane.webhooks.endpoints import router as webhooks_router
from callplane.widgets.endpoints import public_router as public_widgets_router
from callplane.widgets.endpoints import router as widgets_router
from callplane.widgets.endpoints import script_router as widget_script_router
from callplane.workflows.endpoints import router as workflows_router

# Every authenticated route: credential and limit errors, a NUL in the URL (refused by
# the request middleware before routing; a route's own 400 documentation takes precedence), and
# the database busy or unreachable (503, retry).
AUTH_RESPONSES = merge_responses(
    BadRequest, Unauthorized, Forbidden, RateLimited, DatabaseUnavailable
)
# Any route that takes a body can get a 413 from the request middleware, before it runs.
BODY_RESPONSES = merge_responses(PayloadTooLarge)
# Every write takes an Idempotency-Key (the request middleware, outside the routes): a retry in
# flight or whose response was lost → 409, the key reused for another request → 422.
IDEMPOTENCY_RESPONSES = merge_responses(IdempotencyKeyInFlight, UnprocessableRequest)
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: within 24 h the same method, path and body sent by the same "
        "credential under this key get the first response back (with `Idempotent-Replayed: true`) "
        "and nothing runs again; another credential's request under the same key is a separate "
        "request. The caller is authorized first: a replay is never served to a caller that "
        "lacks the scope now, and 401, 403, 429 and 5xx answers are not stored (a retry runs "
        "again). A streamed response (text/plain, e.g. a version comparison) is not stored: a "
        "retry runs again; a conversation turn's stream is the exception: it is stored whole "
        "when it ends, and replayed. Another request under the key → 422 "
        "`idempotency_key_reused`; while "
        "the first is running → 409 `idempotency_key_in_flight`; if it committed but its "
        "response was lost → 409 `idempotency_key_response_lost`; a malformed key → 400."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
}


def mount_routers(app: FastAPI) -> None:
    # Appended as they are, like the domain routes below (include_router would hand FastAPI
    # copies, out of reach of name_operations and document_validation_errors).
    for public in (
        ops_router,
        metrics_router,
        public_widgets_router,
        widget_script_router,
        voice_gateway_router,
    ):
        app.router.routes.extend(public.routes)
    for router in (
        routing_router,  # first: voice runtimes resolve on every call (no route matched before)
        admin_router,
        scaffolding_router,  # before agents_router: `create-demo` is not an `{agent_id}`
        agents_router,
        comparison_router,  # before versions_router: `/versions/diff` is not a `{version}`
        versions_router,
        publishing_router,
        agent_tests_router,
        test_runs_router,
        sip_router,
        phone_numbers_router,
        widgets_router,
        conversations_router,
        analytics_router,
        live_conversations_router,
        agent_config_router,
        workflows_router,
        knowledge_router,
        audit_router,
        webhooks_router,
        telephony_router,
    ):
        for route in router.routes:
            if isinstance(route, APIRoute):
                body = BODY_RESPONSES if route.body_field is not None else {}
                _document(route, {**AUTH_RESPONSES, **body})
                if (route.methods or set()) & BODY_METHODS:
                    _document(route, IDEMPOTENCY_RESPONSES)
                    route.openapi_extra = {
                        **(route.openapi_extra or {}),
                        "parameters": [IDEMPOTENCY_HEADER],
                    }
            app.router.routes.append(route)


def document_validation_errors(app: FastAPI) -> None:
    """Document the validation 422 (with its `code`) wherever FastAPI would document its own,
    which lacks the code: on every route that takes parameters or a body."""
    validation: dict[int | str, dict[str, Any]] = {
        422: {"model": ValidationErrorBody, "description": "The request failed validation."}
    }
    for route in app.routes:
        if isinstance(route, APIRoute) and (
            get_flat_params(route.dependant) or route.body_field is not None
        ):
            _document(route, validation)


def _document(route: APIRoute, responses: dict[int | str, dict[str, Any]]) -> None:
    """Add responses to a built route, with their body models (as FastAPI does at build time,
    so the OpenAPI shows, and schema checks verify, the error bodies)."""
    route.responses = dict(route.responses)  # may be shared with other routes: copy
    for status, response in responses.items():
        if status in route.responses:
            continue
        route.responses[status] = response
        route.response_fields[status] = create_model_field(
            name=f"Response_{status}_{route.unique_id}",
            type_=response["model"],
            mode="serialization",
        )
