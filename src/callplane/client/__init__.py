"""Python SDK for the callplane API: `Client` (sync) and `AsyncClient`, typed errors, safe retries.

Responses are the server's own read models (`AgentRead`, `VersionRead`, …). Writes carry an
`Idempotency-Key` that stays the same across retries, so a retried write never runs twice.
See docs/sdk.md.
"""

from callplane.client._http import (
    BadRequest,
    CallplaneError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    MissingApiKey,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
    StaleInstructions,
    Unauthorized,
    ValidationFailed,
)
from callplane.client.async_resources import AsyncClient
from callplane.client.resources import Client

__all__ = [
    "AsyncClient",
    "BadRequest",
    "CallplaneError",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "MissingApiKey",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "StaleInstructions",
    "Unauthorized",
    "ValidationFailed",
]
