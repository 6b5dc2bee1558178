"""Delivering one event to one subscription, durably.

Each attempt is a DBOS workflow of its own (`webhook-<delivery id>-<attempt>`): one step sends
the request and records the attempt on the delivery row, and when another attempt is due the
workflow enqueues the next one with a delay. Waiting therefore holds no queue slot (a sleeping
workflow would), and the policy (attempts, backoff) is read from the settings when an attempt
runs. Deliveries are at least once: receivers dedupe on the payload's `id`.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from callplane.audit.schemas import AuditActor
from callplane.db.types import utcnow
from callplane.models import AuditEvent
from callplane.webhooks import repository, sender
from callplane.webhooks.schemas import EventResource, WebhookEvent
from callplane.workflows import engine
from callplane.workflows.runtime import runtime

WORKFLOW = "deliver"  # the durable name of an attempt's workflow (stored with every run)


def workflow_id(delivery_id: uuid.UUID | str, attempt: int) -> str:
    return f"webhook-{delivery_id}-{attempt}"


async def enqueue(delivery_id: uuid.UUID | str, attempt: int, delay: float = 0.0) -> None:
    """Enqueue attempt `attempt` (idempotent: its workflow id is fixed), after `delay` seconds."""
    args = (workflow_id(delivery_id, attempt), str(delivery_id), attempt)
    await engine.enqueue(WORKFLOW, *args, queue=engine.WEBHOOKS, delay=delay)


def payload(event: AuditEvent) -> bytes:
    return (
        WebhookEvent(
            id=event.id,
            type=event.action,
            created_at=event.created_at,
            organization_id=event.organization_id,
            resource=EventResource(type=event.resource_type, id=event.resource_id),
            actor=AuditActor(
                type=event.actor_type, id=event.actor_id, credential_id=event.credential_id
            ),
            changes=event.changes,
            request_id=event.request_id,
        )
        .model_dump_json()
        .encode()
    )


def _seconds_until(moment: datetime | None) -> float:
    return 0.0 if moment is None else max(0.0, (moment - utcnow()).total_seconds())


async def attempt_delivery(which: tuple[str, int]) -> float | None:
    """Make attempt number `attempt` of the delivery: the seconds until the next one, or None
    when done."""
    delivery_id, attempt = which
    settings = runtime().settings
    database = runtime().database
    async with database.session(write=False) as session:
        row = await repository.with_context(session, uuid.UUID(delivery_id))
    if row is None or row[0].status != "pending":
        return None  # deleted with its webhook, or finished
    delivery, webhook, event = row
    if delivery.attempts == attempt:  # recorded just before a crash: keep to its schedule
        return _seconds_until(delivery.next_attempt_at)
    if delivery.attempts != attempt - 1:
        return None
    if not webhook.active:
        async with database.session(write=True) as session, session.begin():
            await repository.fail_pending(
                session, delivery.id, "The webhook was deactivated before this delivery."
            )
        return None

    body = payload(event)
    outcome = await sender.post(
        webhook.url,
        body,
        sender.headers(delivery.id, webhook.secret, int(time.time()), body),
        timeout=settings.webhook_timeout_seconds,
        allow_private_networks=settings.crawler_allow_private_networks,
    )
    now = utcnow()
    delay: float | None = None
    if outcome.delivered:
        status, next_attempt_at = "succeeded", None
    elif outcome.permanent or attempt >= settings.webhook_max_attempts:
        status, next_attempt_at = "failed", None
    else:
        delay = settings.webhook_retry_base_seconds * (
            settings.webhook_retry_backoff_rate ** (attempt - 1)
        )
        status, next_attempt_at = "pending", now + timedelta(seconds=delay)
    async with database.session(write=True) as session, session.begin():
        recorded = await repository.record_attempt(
            session,
            delivery.id,
            attempt,
            status=status,
            last_status_code=outcome.status_code,
            last_error=outcome.error and outcome.error[:500],
            last_response=outcome.response,
            last_attempt_at=now,
            next_attempt_at=next_attempt_at,
            delivered_at=now if outcome.delivered else None,
        )
    return delay if recorded else None


async def deliver(delivery_id: str, attempt: int) -> None:
    """The workflow `WORKFLOW`. The step's retries (about 2 minutes) ride out our own database's
    hiccups; the receiver's failures are returned, not raised, and scheduled as attempts."""
    delay = await engine.run_step(attempt_delivery, (delivery_id, attempt), max_attempts=8)
    if delay is not None:
        await enqueue(delivery_id, attempt + 1, delay)
