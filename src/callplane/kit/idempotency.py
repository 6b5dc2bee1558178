"""`Idempotency-Key` on writes: a retry gets the stored response instead of running again.

The key is reserved (in its own short transaction) before the request runs, so a concurrent retry
sees it in flight (409); the response is stored once the request finishes. 5xx responses are not
stored, so a retry after a server error runs again.

The request's own transaction marks the key committed (`mark_committed`, called by the write
session), so a crash can never make a write run twice: if the process dies before its work
commits, the reservation expires after `idempotency_lock_seconds` and a retry runs again; if it
dies after the commit but before storing the response, a retry gets 409
`idempotency_key_response_lost` and is not run again.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callplane.auth.service import Authenticator
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.errors import AppError, Conflict
from callplane.kit.middleware import BODY_METHODS, error_response_parts, header, state
from callplane.models import IdempotencyKey

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces (also in the OpenAPI)
_VALID_KEY = re.compile(KEY_PATTERN)
_REPLAYED_HEADERS = {b"content-type", b"etag", b"location"}
_STATE_KEY = "idempotency_reservation"


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    default_detail = "A request with this Idempotency-Key is still being processed."


_IN_FLIGHT = (409, IdempotencyKeyInFlight.default_detail, IdempotencyKeyInFlight.code)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.ttl = timedelta(hours=settings.idempotency_ttl_hours)
        self.lock = timedelta(seconds=settings.idempotency_lock_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            await _send_error(
                send,
                400,
                "Idempotency-Key must be 1-255 printable ASCII characters.",
                "invalid_idempotency_key",
            )
            return
        app_state = scope["app"].state
        authenticator: Authenticator = app_state.authenticator
        try:
            subject = await authenticator.authenticate(
                header(scope, b"authorization"), header(scope, b"x-anyreach-org")
            )
        except AppError:
            await self.app(scope, receive, send)  # the route reports the auth failure itself
            return
        database: Database = app_state.database
        request_hash = _request_hash(scope)
        outcome = await self._reserve(database, subject.organization_id, key, request_hash)
        if isinstance(outcome, IdempotencyKey):
            await _replay(outcome, send)
            return
        if outcome is not None:
            await _send_error(send, *outcome)
            return
        state(scope)[_STATE_KEY] = (subject.organization_id, key)
        await self._run_and_store(scope, receive, send, database, subject.organization_id, key)

    async def _reserve(
        self, database: Database, org_id: Any, key: str, request_hash: bytes
    ) -> IdempotencyKey | tuple[int, str, str] | None:
        """None when this request may run; a stored record to replay; or an error to send."""
        now = utcnow()
        try:
            async with database.session(write=True) as session, session.begin():
                row = (
                    await session.scalars(
                        select(IdempotencyKey)
                        .where(IdempotencyKey.organization_id == org_id, IdempotencyKey.key == key)
                        .with_for_update()
                    )
                ).one_or_none()
                if row is not None and row.created_at + self.ttl <= now:
                    await session.delete(row)
                    await session.flush()
                    row = None
                if row is None:
                    session.add(
                        IdempotencyKey(
                            organization_id=org_id,
                            key=key,
                            request_hash=request_hash,
                            locked_until=now + self.lock,
                            created_at=now,
                        )
                    )
                    return None
                if row.request_hash != request_hash:
                    return (
                        422,
                        "This Idempotency-Key was used with a different request.",
                        "idempotency_key_reused",
                    )
                if row.response_status is not None:
                    return row
                if row.locked_until > now:
                    return _IN_FLIGHT
                if row.committed_at is not None:
                    return (
                        409,
                        "The request with this Idempotency-Key was carried out, but the server "
                        "stopped before storing its response; it was not run again. Read the "
                        "resource to see the result.",
                        "idempotency_key_response_lost",
                    )
                row.locked_until = now + self.lock  # the first attempt died uncommitted: rerun
                return None
        except IntegrityError:
            return _IN_FLIGHT

    async def _run_and_store(
        self, scope: Scope, receive: Receive, send: Send, database: Database, org_id: Any, key: str
    ) -> None:
        status = 500
        headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() in _REPLAYED_HEADERS:
                        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await self._finish(database, org_id, key, status, headers, b"".join(chunks))

    async def _finish(
        self,
        database: Database,
        org_id: Any,
        key: str,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        where = (IdempotencyKey.organization_id == org_id, IdempotencyKey.key == key)
        async with database.session(write=True) as session, session.begin():
            if status >= 500 or status == 429:
                # Not an answer to the request: a retry must run it, unless its work committed
                # (then the row stays, and a retry learns the response was lost).
                await session.execute(
                    delete(IdempotencyKey).where(*where, IdempotencyKey.committed_at.is_(None))
                )
                return
            row = (await session.scalars(select(IdempotencyKey).where(*where))).one_or_none()
            if row is not None:
                row.response_status = status
                row.response_headers = headers
                row.response_body = body


async def mark_committed(session: AsyncSession, request_state: Any) -> None:
    """In the request's write transaction: its work and this mark commit together."""
    reserved = getattr(request_state, _STATE_KEY, None)
    if reserved is None:
        return
    org_id, key = reserved
    marked = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.organization_id == org_id,
            IdempotencyKey.key == key,
            IdempotencyKey.committed_at.is_(None),
        )
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


async def _replay(row: IdempotencyKey, send: Send) -> None:
    body = row.response_body or b""
    headers = [(k.encode(), v.encode()) for k, v in (row.response_headers or {}).items()]
    if row.response_status != 204:  # a 204 carries no content, not even its length (RFC 9110)
        headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": row.response_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, status: int, detail: str, code: str) -> None:
    start, body = error_response_parts(status, detail, code)
    await send(start)
    await send(body)
