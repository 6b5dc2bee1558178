"""From audit events to deliveries: each event becomes one pending delivery per matching
subscription, written in the event's own transaction (so there is no delivery of a change that
was rolled back, and no committed change without its deliveries).

The deliveries are handed to the workflow engine once that transaction commits, whoever opened
it: a request (whose response then waits for the hand-over) or a workflow. If the process dies
in between, `sweep` finds them. `fan_out` is an audit listener: the wiring (callplane.wiring)
installs it in every process.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from callplane.audit import recorder as audit
from callplane.db.engine import Database
from callplane.db.session import after_commit
from callplane.db.types import new_id, utcnow
from callplane.models import WebhookDelivery
from callplane.webhooks import delivery, repository
from callplane.webhooks.events import matches
from callplane.webhooks.repository import WebhookRepository
from callplane.workflows import engine

logger = logging.getLogger("callplane.webhooks")

_PENDING = "webhooks_pending"  # session.info: this transaction's _Pending
_WATCHED = "webhooks_watched"  # session.info: commit/rollback listeners installed
_HANDOVERS = "webhooks_handovers"  # session.info: enqueue tasks started by the last commit
_running: set[asyncio.Task[None]] = set()  # strong references, until each task is done


@dataclass
class _Pending:
    """What one transaction knows: each organization's active subscriptions (read once, however
    many events it records) and the deliveries it wrote."""

    subscriptions: dict[uuid.UUID, Sequence[tuple[uuid.UUID, Sequence[str]]]] = field(
        default_factory=dict
    )
    deliveries: list[uuid.UUID] = field(default_factory=list)


async def fan_out(session: AsyncSession, events: Sequence[audit.Recorded]) -> None:
    pending = _pending(session)
    for event in events:
        organization_id = event.organization_id
        subscriptions = pending.subscriptions.get(organization_id)
        if subscriptions is None:
            subscriptions = await WebhookRepository(session, organization_id).active()
            pending.subscriptions[organization_id] = subscriptions
        for webhook_id, patterns in subscriptions:
            if matches(patterns, event.action):
                add_delivery(session, organization_id, webhook_id, event.id, event.action)


def add_delivery(
    session: AsyncSession,
    organization_id: uuid.UUID,
    webhook_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
) -> WebhookDelivery:
    """A pending delivery, enqueued once the session's transaction commits."""
    row = WebhookDelivery(
        id=new_id(),
        organization_id=organization_id,
        webhook_id=webhook_id,
        event_id=event_id,
        event_type=event_type,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    pending = _pending(session)
    if not pending.deliveries:
        after_commit(session, lambda: _wait_for_handover(session))
    pending.deliveries.append(row.id)
    return row


def forget_subscriptions(session: AsyncSession) -> None:
    """After a subscription changed in this transaction, events must see it as it is now."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        pending.subscriptions.clear()


def _pending(session: AsyncSession) -> _Pending:
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = _Pending()
        if not session.info.get(_WATCHED):
            session.info[_WATCHED] = True
            orm_event.listen(session.sync_session, "after_commit", _committed)
            orm_event.listen(session.sync_session, "after_soft_rollback", _rolled_back)
    return pending


def _committed(session: Session) -> None:
    """Runs inside the commit, on the event loop's thread: start the hand-over as a task. It gets
    a fresh context, so an enqueue from a workflow's step is not taken for a child workflow."""
    if session.in_nested_transaction():
        return  # a savepoint was released; the transaction goes on
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None or not pending.deliveries:
        return
    task = asyncio.get_running_loop().create_task(
        _hand_over(pending.deliveries), context=contextvars.Context()
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    session.info.setdefault(_HANDOVERS, []).append(task)


def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_PENDING, None)


async def _wait_for_handover(session: AsyncSession) -> None:
    tasks: list[asyncio.Task[None]] = session.info.pop(_HANDOVERS, [])
    for task in tasks:
        await task


async def _hand_over(delivery_ids: list[uuid.UUID]) -> None:
    if not engine.is_running():
        return  # no engine in this process (tools): a process that runs one sweeps them up
    for delivery_id in delivery_ids:
        try:
            await delivery.enqueue(delivery_id, 1)
        except Exception:  # the sweep retries it
            logger.exception("could not enqueue a webhook delivery", extra={"id": str(delivery_id)})


async def sweep(database: Database, age: timedelta) -> int:
    """Enqueue pending deliveries whose next attempt is overdue by `age` (their process died
    between commit and enqueue). Enqueuing is idempotent by workflow id: an attempt the engine
    already has (e.g. behind a long queue) is left alone."""
    async with database.session(write=False) as session:
        overdue = await repository.overdue(session, utcnow() - age)
    for delivery_id, attempts in overdue:
        await delivery.enqueue(delivery_id, attempts + 1)
    return len(overdue)
