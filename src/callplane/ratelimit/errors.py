from __future__ import annotations

from callplane.errors import AppError


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    default_detail = "Too many requests for this credential; retry after the Retry-After delay."
