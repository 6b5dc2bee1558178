"""`Idempotency-Key` on writes: a retry gets the stored response instead of running again.

Infrastructure below the domains, with its own table (`idempotency_keys`): `middleware` (the
ASGI middleware, `claim`, the replay), `repository` (the records), `errors`.

Two halves (ADR 0004):

- `claim()`, called by `authorize()` once the caller has passed authentication, its rate limit
  and the route's scope check: reserves the key for this credential (in its own short
  transaction), or answers from the credential's record: a replay, 409 while the first attempt
  is in flight, 422 for another request under the key. A replay is thus never served to a caller
  who may not make the request now, and records are per (organization, credential, key): another
  credential's record under the same key is another request.
- `key_refusal` and `Settlement`, run by the request middleware: check the key's syntax,
  and settle the record before the client sees the response: a complete (non-streamed)
  answer is stored first, then sent, so a retry sent the moment the answer arrives is replayed.
  Refusals (401, 403, 429) and server errors (5xx) are not answers to the request: the
  reservation is released and a retry runs. A streamed
  answer is not stored either (it is passed through as it is written): it is released when it
  starts.

The request's own transaction marks the key committed (`mark_committed`, called by the write
session), so a crash can never make a write run twice: if the process dies before its work
commits, the reservation expires after `idempotency_lock_seconds` and a retry runs again; if it
dies after the commit but before storing the response, a retry gets 409
`idempotency_key_response_lost` and is not run again.
"""
