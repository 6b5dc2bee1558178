"""`/core/webhooks`: subscriptions to the organization's events, and their deliveries.

Every route needs `webhooks:manage`, reads included: a subscription reveals where the
organization's events go.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.webhooks.errors import (
    DeliveryNotFound,
    WebhookInactive,
    WebhookNotFound,
    WebhookUrlRefused,
)
from callplane.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)
from callplane.webhooks.service import WebhookService

router = APIRouter(prefix="/core/webhooks", tags=["webhooks"])

Manager = Annotated[AuthSubject, Requires(Scope.WEBHOOKS_MANAGE)]


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.crawler_allow_private_networks)


@router.get("", response_model=Page[WebhookRead], responses=merge_responses(InvalidCursor))
async def list_webhooks(
    subject: Manager, session: ReadSession, limit: LimitParam = 20, cursor: CursorParam = None
) -> Page[WebhookRead]:
    service = WebhookService(session, subject.organization_id)
    rows, next_cursor = await service.webhooks.list(limit=limit, cursor=cursor)
    return Page.of([WebhookRead.model_validate(row) for row in rows], limit, next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=WebhookWithSecret,
    responses=merge_responses(WebhookUrlRefused),
)
async def create_webhook(
    body: WebhookCreate, subject: Manager, session: WriteSession, request: Request
) -> WebhookWithSecret:
    """Subscribe `url` to events. The response carries the signing `secret`, shown only here."""
    service = WebhookService(session, subject.organization_id)
    webhook = await service.create(body, allow_private_networks=_allow_private(request))
    return WebhookWithSecret.model_validate(webhook)


@router.get("/{webhook_id}", response_model=WebhookRead, responses=merge_responses(WebhookNotFound))
async def get_webhook(webhook_id: uuid.UUID, subject: Manager, session: ReadSession) -> WebhookRead:
    webhook = await WebhookService(session, subject.organization_id).get(webhook_id)
    return WebhookRead.model_validate(webhook)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=merge_responses(WebhookNotFound, WebhookUrlRefused),
)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    subject: Manager,
    session: WriteSession,
    request: Request,
) -> WebhookRead:
    service = WebhookService(session, subject.organization_id)
    webhook = await service.update(webhook_id, body, allow_private_networks=_allow_private(request))
    return WebhookRead.model_validate(webhook)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(WebhookNotFound),
)
async def delete_webhook(webhook_id: uuid.UUID, subject: Manager, session: WriteSession) -> None:
    """Delete the subscription and its delivery history; pending deliveries are dropped."""
    await WebhookService(session, subject.organization_id).delete(webhook_id)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    responses=merge_responses(WebhookNotFound),
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, subject: Manager, session: WriteSession
) -> WebhookWithSecret:
    """Replace the signing secret; the new one is shown only here. The old one stops at once."""
    webhook = await WebhookService(session, subject.organization_id).rotate_secret(webhook_id)
    return WebhookWithSecret.model_validate(webhook)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    responses=merge_responses(WebhookNotFound, InvalidCursor),
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    subject: Manager,
    session: ReadSession,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[DeliveryRead]:
    """The subscription's deliveries, newest first."""
    service = WebhookService(session, subject.organization_id)
    await service.get(webhook_id)
    rows, next_cursor = await service.deliveries.list(
        webhook_id, status=status, limit=limit, cursor=cursor
    )
    return Page.of([DeliveryRead.model_validate(row) for row in rows], limit, next_cursor)


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    response_model=DeliveryRead,
    responses=merge_responses(WebhookNotFound, DeliveryNotFound),
)
async def get_webhook_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, subject: Manager, session: ReadSession
) -> DeliveryRead:
    service = WebhookService(session, subject.organization_id)
    return DeliveryRead.model_validate(await service.get_delivery(webhook_id, delivery_id))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
    responses=merge_responses(WebhookNotFound, DeliveryNotFound, WebhookInactive),
)
async def redeliver_webhook_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, subject: Manager, session: WriteSession
) -> DeliveryRead:
    """Send the delivery's event again, as a new delivery (the payload `id` is the same)."""
    service = WebhookService(session, subject.organization_id)
    return DeliveryRead.model_validate(await service.redeliver(webhook_id, delivery_id))
