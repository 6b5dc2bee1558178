"""The `idempotency_keys` records: reserve, store, release, mark committed (ADR 0004)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.idempotency.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    IdempotencyResponseLost,
)
from callplane.models import IdempotencyKey

logger = logging.getLogger("callplane")
# Request state: once claimed, the record the request reserved (set by `middleware.claim`).
RESERVATION = "idempotency_reservation"


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


async def reserve(
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


async def store(
    database: Database, reserved: RecordId, status: int, headers: dict[str, str], body: bytes
) -> None:
    """Store a complete answer. A failure to store does not hide the answer (it is sent all the
    same): a retry then finds the reservation, in flight until its lock lapses, then
    `idempotency_key_response_lost`."""
    try:
        async with database.session(write=True) as session, session.begin():
            await session.execute(
                update(IdempotencyKey)
                .where(*reserved.where())
                .values(response_status=status, response_headers=headers, response_body=body)
            )
    except Exception:
        logger.warning("could not store an idempotent response", exc_info=True)


async def release(database: Database, reserved: RecordId) -> None:
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
    reserved: RecordId | None = getattr(request_state, RESERVATION, None)
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
