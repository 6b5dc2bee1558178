from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.db.types import utcnow
from callplane.kit.pagination import paginate
from callplane.models import AuditEvent, Webhook, WebhookDelivery


class WebhookRepository(OrgRepository[Webhook]):
    model = Webhook

    async def list(self, *, limit: int, cursor: str | None) -> tuple[list[Webhook], str | None]:
        return await paginate(
            self.session,
            self.scoped(),
            (Webhook.created_at, Webhook.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def get_for_change(self, webhook_id: uuid.UUID) -> Webhook | None:
        """Locked against deletion (FOR NO KEY UPDATE), still visible to writes fanning out."""
        statement = self.scoped().where(Webhook.id == webhook_id).with_for_update(key_share=True)
        return (await self.session.scalars(statement)).one_or_none()

    async def active(self) -> Sequence[tuple[uuid.UUID, Sequence[str]]]:
        """(id, events) of the subscriptions that receive events."""
        # FOR KEY SHARE SKIP LOCKED (PostgreSQL): a subscription being deleted right now is
        # skipped, instead of this transaction later failing on the delivery's foreign key.
        statement = (
            select(Webhook.id, Webhook.events)
            .where(Webhook.organization_id == self.organization_id, Webhook.active.is_(True))
            .with_for_update(read=True, key_share=True, skip_locked=True)
        )
        return [(row.id, row.events) for row in await self.session.execute(statement)]


class DeliveryRepository(OrgRepository[WebhookDelivery]):
    model = WebhookDelivery

    async def list(
        self, webhook_id: uuid.UUID, *, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[WebhookDelivery], str | None]:
        statement = self.scoped().where(WebhookDelivery.webhook_id == webhook_id)
        if status is not None:
            statement = statement.where(WebhookDelivery.status == status)
        return await paginate(
            self.session,
            statement,
            (WebhookDelivery.created_at, WebhookDelivery.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def get_for(
        self, webhook_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> WebhookDelivery | None:
        statement = self.scoped().where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
        )
        return (await self.session.scalars(statement)).one_or_none()


# The delivery side (the engine's workflows and sweeps, acting for every organization): a delivery
# id names its organization, so these are keyed by id alone.


async def overdue(session: AsyncSession, older_than: datetime) -> list[tuple[uuid.UUID, int]]:
    """(id, attempts) of pending deliveries whose next attempt should have started by now."""
    statement = (
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at < older_than)
        .limit(100)
    )
    return [(row.id, row.attempts) for row in await session.execute(statement)]


async def record_attempt(
    session: AsyncSession, delivery_id: uuid.UUID, attempt: int, **values: Any
) -> bool:
    """Write attempt number `attempt` unless another already did (or the delivery is gone)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempt - 1,
        )
        .values(attempts=attempt, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def with_context(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, Webhook, AuditEvent] | None:
    """A delivery with its subscription and its event, for an attempt (None once deleted)."""
    row = (
        await session.execute(
            select(WebhookDelivery, Webhook, AuditEvent)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .join(AuditEvent, AuditEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def fail_pending(session: AsyncSession, delivery_id: uuid.UUID, error: str) -> None:
    """End a delivery that is still pending as failed, with `error` as its reason."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error=error, next_attempt_at=None, updated_at=utcnow())
    )
