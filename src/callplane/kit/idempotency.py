"""`Idempotency-Key` on writes: a retry gets the stored response instead of running again.

Two halves (ADR 0004):

- `claim()`, called by `authorize()` once the caller has passed authentication, its rate limit
  and the route's scope check: reserves the key for this credential (in its own short
  transaction), or answers from the credential's record: a replay, 409 while the first attempt
  is in flight, 422 for another request under the key. A replay is thus never served to a caller
  who may not make the request now, and records are per (organization, credential, key): another
  credential's record under the same key is another request.
- `IdempotencyMiddleware`: checks the key's syntax, and settles the record before the client sees
  the response: a complete (non-streamed) answer is stored first, then sent, so a retry sent the
  moment the answer arrives is replayed. Refusals (401, 403, 429) and server errors (5xx) are not
  answers to the request: the reservation is released and a retry runs. A streamed answer is not
  stored either (it is passed through as it is written): it is released when it starts.

The request's own transaction marks the key committed (`mark_committed`, called by the write
session), so a crash can never make a write run twice: if the process dies before its work
commits, the reservation expires after `idempotency_lock_seconds` and a retry runs again; if it
dies after the commit but before storing the response, a retry gets 409
`idempotency_key_response_lost` and is not run again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.errors import Conflict, UnprocessableRequest
from callplane.kit.middleware import BODY_METHODS, error_response_parts, header, state
from callplane.models import IdempotencyKey

if TYPE_CHECKING:
    from callplane.auth.subject import AuthSubject

logger = logging.getLogger("callplane")

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces (also in the OpenAPI)
_VALID_KEY = re.compile(KEY_PATTERN)
_REPLAYED_HEADERS = {b"content-type", b"etag", b"location"}
# Request state: the key the request carries (set by the middleware) and, once claimed, the
# record it reserved (set by `claim`).
_KEY = "idempotency_key"
_RESERVATION = "idempotency_reservation"
# Not an answer to the request: authentication or scope refused, rate limited.
_REFUSALS = frozenset({401, 403, 429})


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


class IdempotentReplay(Exception):
    """Raised by `claim` to answer with a stored response (`replay_response` renders it)."""

    def __init__(self, record: IdempotencyKey):
        self.record = record
        super().__init__("replay")


@dataclass(frozen=True)
class RecordId:
    """Whose record: the organization, the credential that sent the request, and its key."""

    organization_id: uuid.UUID
    credential_id: uuid.UUID
    key: str

    def where(self) -> tuple[ColumnElement[bool], ...]:
        return (
            IdempotencyKey.organization_id == self.organization_id,
            IdempotencyKey.credential_id == self.credential_id,
            IdempotencyKey.key == self.key,
        )


class IdempotencyMiddleware:
    """Checks the key's syntax and settles the request's record before its answer leaves."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            for message in error_response_parts(
                400,
                "Idempotency-Key must be 1-255 printable ASCII characters.",
                "invalid_idempotency_key",
            ):
                await send(message)
            return
        state(scope)[_KEY] = key  # claimed by `authorize()`, once the caller may make the request
        database: Database = scope["app"].state.database
        start: Message | None = None
        settled = False

        async def settle_then_send(message: Message) -> None:
            """Holds the response start until the first body message shows whether the answer
            is complete (store it, then send) or streamed (release it, then send)."""
            nonlocal start, settled
            if message["type"] == "http.response.start":
                start = message
                return
            if not settled and start is not None and message["type"] == "http.response.body":
                settled = True
                reserved = _reserved(scope)
                if reserved is not None:
                    await _settle(database, reserved, start, message)
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, settle_then_send)
        finally:
            reserved = _reserved(scope)
            if reserved is not None and not settled:  # the app failed before answering
                await _release(database, reserved)


async def claim(request: Request, subject: AuthSubject) -> None:
    """Reserve the request's Idempotency-Key for `subject`, or answer from its record (raises
    `IdempotentReplay` or an error). Called after authorization succeeded: nothing is replayed
    to a caller that may not make the request now. A no-op without a key, or once reserved."""
    request_state = state(request.scope)
    key: str | None = request_state.get(_KEY)
    if key is None or _RESERVATION in request_state:
        return
    settings: Settings = request.app.state.settings
    record_id = RecordId(subject.organization_id, subject.credential_id, key)
    record = await _reserve(
        request.app.state.database,
        record_id,
        _request_hash(request.scope),
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        lock=timedelta(seconds=settings.idempotency_lock_seconds),
    )
    if record is not None:
        raise IdempotentReplay(record)
    request_state[_RESERVATION] = record_id


def reservation(request: Request) -> RecordId | None:
    """The Idempotency-Key record this request reserved once authorized, or None."""
    return _reserved(request.scope)


def _reserved(scope: Scope) -> RecordId | None:
    reserved: RecordId | None = state(scope).get(_RESERVATION)
    return reserved


async def replay_response(_: Request, exc: Exception) -> Response:
    """The exception handler for `IdempotentReplay`: the stored answer, marked as a replay."""
    assert isinstance(exc, IdempotentReplay)
    record = exc.record
    assert record.response_status is not None
    headers = {**(record.response_headers or {}), "idempotent-replayed": "true"}
    return Response(record.response_body or b"", record.response_status, headers)


async def _reserve(
    database: Database, record_id: RecordId, request_hash: bytes, *, ttl: timedelta, lock: timedelta
) -> IdempotencyKey | None:
    """None when this request may run (the key is now reserved); a stored record to replay;
    or raises the reason it may do neither."""
    now = utcnow()
    try:
        async with database.session(write=True) as session, session.begin():
            row = (
                await session.scalars(
                    select(IdempotencyKey).where(*record_id.where()).with_for_update()
                )
            ).one_or_none()
            if row is not None and row.created_at + ttl <= now:
                await session.delete(row)
                await session.flush()
                row = None
            if row is None:
                session.add(
                    IdempotencyKey(
                        organization_id=record_id.organization_id,
                        credential_id=record_id.credential_id,
                        key=record_id.key,
                        request_hash=request_hash,
                        locked_until=now + lock,
                        created_at=now,
                    )
                )
                return None
            if row.request_hash != request_hash:
                raise IdempotencyKeyReused()
            if row.response_status is not None:
                return row
            if row.locked_until > now:
                raise IdempotencyKeyInFlight()
            if row.committed_at is not None:
                raise IdempotencyResponseLost()
            row.locked_until = now + lock  # the first attempt died uncommitted: rerun
            return None
    except IntegrityError:
        raise IdempotencyKeyInFlight() from None  # a concurrent twin inserted it first


async def _settle(database: Database, reserved: RecordId, start: Message, first: Message) -> None:
    """Before the response goes out: store a complete answer; release anything else.

    A failure to store does not hide the answer (it is sent all the same): a retry then finds
    the reservation, in flight until its lock lapses, then `idempotency_key_response_lost`.
    """
    status: int = start["status"]
    if status in _REFUSALS or status >= 500 or first.get("more_body", False):
        await _release(database, reserved)
        return
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in start.get("headers", [])
        if name.lower() in _REPLAYED_HEADERS
    }
    try:
        async with database.session(write=True) as session, session.begin():
            await session.execute(
                update(IdempotencyKey)
                .where(*reserved.where())
                .values(
                    response_status=status,
                    response_headers=headers,
                    response_body=first.get("body", b""),
                )
            )
    except Exception:
        logger.warning("could not store an idempotent response", exc_info=True)


async def _release(database: Database, reserved: RecordId) -> None:
    """Free the key for a retry to run, unless the request's work committed: then the record
    stays, unlocked, and a retry learns the response was lost instead of running it twice."""
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            delete(IdempotencyKey).where(*reserved.where(), IdempotencyKey.committed_at.is_(None))
        )
        await session.execute(
            update(IdempotencyKey).where(*reserved.where()).values(locked_until=utcnow())
        )


async def mark_committed(session: AsyncSession, request_state: Any) -> None:
    """In the request's write transaction: its work and this mark commit together."""
    reserved: RecordId | None = getattr(request_state, _RESERVATION, None)
    if reserved is None:
        return
    marked = await session.execute(
        update(IdempotencyKey)
        .where(*reserved.where(), IdempotencyKey.committed_at.is_(None))
        .values(committed_at=utcnow())
    )
    if not getattr(marked, "rowcount", 0):
        # A slower first attempt outlived its lock, a retry took the key over, and one of them
        # already committed: this one must not (its transaction rolls back).
        raise IdempotencyKeyInFlight()


def _request_hash(scope: Scope) -> bytes:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\0" + scope["path"].encode() + b"?" + scope.get("query_string", b""))
    digest.update(b"\0" + state(scope).get("body", b""))
    return digest.digest()
