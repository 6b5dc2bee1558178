"""Subscriptions and their deliveries, as the API manages them.

The signing secret is stored as issued (not hashed): every delivery is signed with it, so the
server must be able to read it. The API returns it only from create and rotate-secret.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.crawler.guard import blocked_reason
from callplane.crawler.urls import canonical_host
from callplane.models import Webhook, WebhookDelivery
from callplane.webhooks import fanout
from callplane.webhooks.errors import (
    DeliveryNotFound,
    WebhookInactive,
    WebhookNotFound,
    WebhookUrlRefused,
)
from callplane.webhooks.repository import DeliveryRepository, WebhookRepository
from callplane.webhooks.schemas import WebhookCreate, WebhookUpdate
from callplane.webhooks.sender import SECRET_PREFIX


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the Standard Webhooks secret format, so the
    specification's libraries take it as it is."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_destination(url: str, *, allow_private_networks: bool) -> None:
    """Refuse at once what the delivery-time SSRF guard would refuse without looking up DNS:
    IP literals that are not public, and `localhost` names. (Names that resolve to private
    addresses are refused by the guard when a delivery is attempted.)"""
    if allow_private_networks:
        return
    host = canonical_host(httpx.URL(url).raw_host.decode("ascii"))
    if host == "localhost" or host.endswith(".localhost"):
        raise WebhookUrlRefused(f"Refusing {host}: it is a loopback name.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = blocked_reason(address)
    if reason is not None:
        raise WebhookUrlRefused(f"Refusing {host}: it is a {reason} address.")


class WebhookService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.webhooks = WebhookRepository(session, organization_id)
        self.deliveries = DeliveryRepository(session, organization_id)

    async def get(self, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook:
        webhook = await self.webhooks.get(webhook_id, for_update=lock)
        if webhook is None:
            raise WebhookNotFound()
        return webhook

    async def create(self, body: WebhookCreate, *, allow_private_networks: bool) -> Webhook:
        check_destination(body.url, allow_private_networks=allow_private_networks)
        webhook = self.webhooks.add(
            Webhook(
                url=body.url,
                events=body.events,
                description=body.description,
                active=body.active,
                secret=new_secret(),
            )
        )
        await self.session.flush()
        await self._record(
            "webhook.created", webhook, {"host": _host(webhook.url), "events": webhook.events}
        )
        return webhook

    async def update(
        self, webhook_id: uuid.UUID, body: WebhookUpdate, *, allow_private_networks: bool
    ) -> Webhook:
        webhook = await self._for_change(webhook_id)
        if body.url is not None:
            check_destination(body.url, allow_private_networks=allow_private_networks)
        changes = audit.update_from(webhook, body)
        await self.session.flush()
        if "url" in changes:  # a URL can carry a token (chat hooks): the audit log keeps its host
            url = changes.pop("url")
            changes["host"] = {"from": _host(url["from"]), "to": _host(url["to"])}
        if changes:
            await self._record("webhook.updated", webhook, changes)
        return webhook

    async def delete(self, webhook_id: uuid.UUID) -> None:
        webhook = await self.get(webhook_id, lock=True)
        await self.webhooks.delete(webhook)
        await self.session.flush()
        await self._record("webhook.deleted", webhook, {"host": _host(webhook.url)})

    async def rotate_secret(self, webhook_id: uuid.UUID) -> Webhook:
        """A new secret, effective for the next attempt of every delivery; the old one stops."""
        webhook = await self._for_change(webhook_id)
        webhook.secret = new_secret()
        await self.session.flush()
        await self._record("webhook.secret_rotated", webhook, {})
        return webhook

    async def get_delivery(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        await self.get(webhook_id)
        found = await self.deliveries.get_for(webhook_id, delivery_id)
        if found is None:
            raise DeliveryNotFound()
        return found

    async def redeliver(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        """Send the delivery's event again, as a new delivery with attempts of its own."""
        webhook = await self._for_change(webhook_id)
        original = await self.deliveries.get_for(webhook_id, delivery_id)
        if original is None:
            raise DeliveryNotFound()
        if not webhook.active:
            raise WebhookInactive()
        again = fanout.add_delivery(
            self.session, self.organization_id, webhook_id, original.event_id, original.event_type
        )
        await self.session.flush()
        await self._record(
            "webhook.redelivered", webhook, {"delivery_id": again.id, "of": original.id}
        )
        return again

    async def _for_change(self, webhook_id: uuid.UUID) -> Webhook:
        webhook = await self.webhooks.get_for_change(webhook_id)
        if webhook is None:
            raise WebhookNotFound()
        return webhook

    async def _record(self, action: str, webhook: Webhook, changes: dict[str, Any]) -> None:
        fanout.forget_subscriptions(self.session)
        await audit.record(
            self.session, self.organization_id, action, "webhook", webhook.id, changes
        )


def _host(url: str) -> str:
    return httpx.URL(url).host
