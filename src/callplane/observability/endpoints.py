"""GET /metrics: the Prometheus text exposition, for a scraper rather than API clients.

Left out of the OpenAPI schema (it is not part of the Agents API); docs/operations.md
documents it. With CALLPLANE_METRICS_TOKEN set it needs `Authorization: Bearer <token>`;
without one it is public in development and test, and refused in production.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from callplane.config import Settings
from callplane.errors import AppError, Forbidden, Unauthorized
from callplane.observability.metrics import render

router = APIRouter(tags=["operations"])


def refusal(settings: Settings, authorization: str | None) -> AppError | None:
    """Why a scrape with this Authorization header is refused, or None to let it in."""
    if settings.metrics_token is None:
        if settings.env == "production":
            return Forbidden("Metrics are off: set CALLPLANE_METRICS_TOKEN to serve them.")
        return None
    scheme, _, presented = (authorization or "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    # Compared in constant time, and always compared, so timing tells nothing about the token.
    matches = hmac.compare_digest(presented.strip().encode(), expected)
    if scheme.lower() != "bearer" or not matches:
        return Unauthorized("Missing or wrong metrics token.")
    return None


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process (see docs/operations.md)."""
    settings: Settings = request.app.state.settings
    refused = refusal(settings, request.headers.get("authorization"))
    if refused is not None:
        raise refused
    body, content_type = await render(request.app.state.database, request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})
