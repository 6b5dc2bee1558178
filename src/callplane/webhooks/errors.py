from __future__ import annotations

from callplane.errors import Conflict, NotFound, UnprocessableRequest


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    default_detail = "Webhook not found."


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    default_detail = "Webhook delivery not found."


class WebhookUrlRefused(UnprocessableRequest):
    code = "webhook_url_refused"
    default_detail = "The URL points at a private or loopback address."


class WebhookInactive(Conflict):
    code = "webhook_inactive"
    default_detail = "The webhook is inactive; activate it before redelivering."
