"""FastAPI dependencies: `Requires(...)` declares the scopes a route accepts (any one suffices)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from callplane.auth.authenticator import Authenticator
from callplane.auth.subject import AuthSubject
from callplane.errors import Forbidden
from callplane.idempotency.middleware import claim
from callplane.kit.middleware import RESPONSE_HEADERS
from callplane.ratelimit.errors import RateLimited
from callplane.ratelimit.limiter import RateLimiter

# Documents the bearer scheme in OpenAPI; the Authenticator does the real parsing.
_bearer = HTTPBearer(auto_error=False, description="`ak_…` API key or `pat_…` token")


def Requires(*accepted: str) -> Any:
    """A dependency that authenticates the caller and checks it holds one of `accepted`."""

    async def dependency(request: Request, _: Any = Depends(_bearer)) -> AuthSubject:
        return await authorize(request, accepted)

    dependency.__name__ = "requires_" + "_or_".join(s.replace(":", "_") for s in accepted)
    return Depends(dependency)


async def authorize(request: Request, accepted: tuple[str, ...]) -> AuthSubject:
    """The caller, once its credential, its rate limit and its scopes (any of `accepted`) pass:
    what `Requires` does, callable by a route that solves no dependencies (kit.lean).

    Only then is the request's Idempotency-Key claimed (callplane.idempotency): a stored answer is
    replayed to no one who may not make the request now, and refusals are never stored."""
    authenticator: Authenticator = request.app.state.authenticator
    subject = await authenticator.authenticate(
        request.headers.get("authorization"), request.headers.get("x-anyreach-org")
    )
    request.state.subject = subject
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        verdict = await limiter.check(subject.credential_id)
        setattr(request.state, RESPONSE_HEADERS, verdict.headers())  # even with the 429
        if not verdict.allowed:
            raise RateLimited()
    if accepted and not subject.has_any(*accepted):
        raise Forbidden(f"Missing scope: requires {' or '.join(accepted)}.")
    await claim(request, subject.organization_id, subject.credential_id)
    return subject
