"""The Idempotency-Key middleware, the claim made once a caller is authorized, and the replay
(the package docstring tells the whole story)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

from fastapi import Request, Response
from starlette.types import Message, Scope, Send

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.idempotency import repository
from callplane.idempotency.repository import RESERVATION, RecordId
from callplane.kit.middleware import BODY_METHODS, error_response_parts, header, state
from callplane.models import IdempotencyKey

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces (also in the OpenAPI)
_VALID_KEY = re.compile(KEY_PATTERN)
_REPLAYED_HEADERS = {b"content-type", b"etag", b"location"}
# Request state: the key the request carries (set by the middleware; claimed by `claim`).
_KEY = "idempotency_key"
# Not an answer to the request: authentication or scope refused, rate limited.
_REFUSALS = frozenset({401, 403, 429})
# Request state: set by a route whose streamed answer must be stored once it is complete (a
# conversation turn: a retry must replay it, not run it again). The key stays reserved while the
# answer streams (a retry meanwhile gets 409 in flight), and the whole body is stored at its end.
STORE_STREAM = "idempotency_store_stream"


class IdempotentReplay(Exception):
    """Raised by `claim` to answer with a stored response (`replay_response` renders it)."""

    def __init__(self, record: IdempotencyKey):
        self.record = record
        super().__init__("replay")


def key_refusal(scope: Scope) -> tuple[Message, Message] | None:
    """Check the Idempotency-Key's syntax on a write and remember it for `claim`; the 400 to send
    for a malformed key, else None."""
    if scope["method"] not in BODY_METHODS:
        return None
    key = header(scope, b"idempotency-key")
    if key is None:
        return None
    if not _VALID_KEY.match(key):
        return error_response_parts(
            400,
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            "invalid_idempotency_key",
        )
    state(scope)[_KEY] = key  # claimed by `authorize()`, once the caller may make the request
    return None


class Settlement:
    """Settles a keyed request's record before its answer leaves: `send` holds the response start
    until the first body message shows whether the answer is complete (store it, then send) or
    streamed (release it, then send); `finish` releases a reservation the app never answered."""

    def __init__(self, scope: Scope, send: Send):
        self.scope = scope
        self._send = send
        self._database: Database = scope["app"].state.database
        self._start: Message | None = None
        self._settled = False
        self._streamed: list[bytes] | None = None  # a streamed answer being kept (STORE_STREAM)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        start = self._start
        if message["type"] != "http.response.body" or start is None:
            await self._send(message)
            return
        reserved = _reserved(self.scope)
        if not self._settled:
            self._settled = True
            if reserved is not None:
                if (
                    message.get("more_body", False)
                    and state(self.scope).get(STORE_STREAM)
                    and start["status"] < 300
                ):
                    # a streamed answer the route asked to keep: stored whole once it ends
                    self._streamed = [message.get("body", b"")]
                else:
                    await _settle(self._database, reserved, start, message)
            await self._send(start)
        elif self._streamed is not None and reserved is not None:
            self._streamed.append(message.get("body", b""))
            if not message.get("more_body", False):
                whole: Message = {"type": "http.response.body", "body": b"".join(self._streamed)}
                self._streamed = None
                await _settle(self._database, reserved, start, whole)
        await self._send(message)

    async def finish(self) -> None:
        reserved = _reserved(self.scope)
        # The app failed before answering, or a kept stream broke off before its end.
        if reserved is not None and (not self._settled or self._streamed is not None):
            await repository.release(self._database, reserved)


def keyed(scope: Scope) -> bool:
    """Whether the request carries an Idempotency-Key `key_refusal` accepted."""
    return _KEY in state(scope)


async def claim(request: Request, organization_id: uuid.UUID, credential_id: uuid.UUID) -> None:
    """Reserve the request's Idempotency-Key for the credential, or answer from its record (raises
    `IdempotentReplay` or an error). Called after authorization succeeded: nothing is replayed
    to a caller that may not make the request now. A no-op without a key, or once reserved."""
    request_state = state(request.scope)
    key: str | None = request_state.get(_KEY)
    if key is None or RESERVATION in request_state:
        return
    settings: Settings = request.app.state.settings
    record_id = RecordId(organization_id, credential_id, key)
    record = await repository.reserve(
        request.app.state.database,
        record_id,
        _request_hash(request.scope),
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        lock=timedelta(seconds=settings.idempotency_lock_seconds),
    )
    if record is not None:
        raise IdempotentReplay(record)
    request_state[RESERVATION] = record_id


def reservation(request: Request) -> RecordId | None:
    """The Idempotency-Key record this request reserved once authorized, or None."""
    return _reserved(request.scope)


def _reserved(scope: Scope) -> RecordId | None:
    reserved: RecordId | None = state(scope).get(RESERVATION)
    return reserved


async def replay_response(_: Request, exc: Exception) -> Response:
    """The exception handler for `IdempotentReplay`: the stored answer, marked as a replay."""
    assert isinstance(exc, IdempotentReplay)
    record = exc.record
    assert record.response_status is not None
    headers = {**(record.response_headers or {}), "idempotent-replayed": "true"}
    return Response(record.response_body or b"", record.response_status, headers)


async def _settle(database: Database, reserved: RecordId, start: Message, first: Message) -> None:
    """Before the response goes out: store a complete answer; release anything else."""
    status: int = start["status"]
    if status in _REFUSALS or status >= 500 or first.get("more_body", False):
        await repository.release(database, reserved)
        return
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in start.get("headers", [])
        if name.lower() in _REPLAYED_HEADERS
    }
    await repository.store(database, reserved, status, headers, first.get("body", b""))


def _request_hash(scope: Scope) -> bytes:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\0" + scope["path"].encode() + b"?" + scope.get("query_string", b""))
    digest.update(b"\0" + state(scope).get("body", b""))
    return digest.digest()
