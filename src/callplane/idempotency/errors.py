"""Why a request under an Idempotency-Key is neither run nor replayed."""

from __future__ import annotations

from callplane.errors import Conflict, UnprocessableRequest


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    default_detail = "A request with this Idempotency-Key is still being processed."


class IdempotencyKeyReused(UnprocessableRequest):
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request."


class IdempotencyResponseLost(Conflict):
    code = "idempotency_key_response_lost"
    default_detail = (
        "The request with this Idempotency-Key was carried out, but its response was not "
        "stored (the server stopped first); it was not run again. Read the resource to see the "
        "result."
    )
