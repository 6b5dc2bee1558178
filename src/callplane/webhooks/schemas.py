from __future__ import annotations

import uuid
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from callplane.audit.schemas import AuditActor
from callplane.crawler.urls import canonical_host
from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime, not_null
from callplane.webhooks.events import pattern_problem

DeliveryStatus = Literal["pending", "succeeded", "failed"]

_EVENTS_DESCRIPTION = (
    "Event names (`agent.created`), `prefix.*` patterns (`agent.*`, `agent.version.*`) or `*` "
    "for every event. See docs/webhooks.md for the catalogue."
)


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    try:
        url = httpx.URL(value)
        host = canonical_host(url.raw_host.decode("ascii")) if url.raw_host else ""
    except (httpx.InvalidURL, ValueError, UnicodeError) as error:
        raise ValueError(f"not a valid URL: {error}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not host:
        raise ValueError("the URL has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError("the port must be between 1 and 65535")
    if url.userinfo:
        raise ValueError("must not carry credentials: deliveries are authenticated by signature")
    if url.fragment:
        raise ValueError("must not have a #fragment")
    return str(url)  # normalized: an internationalized host is stored in its ASCII (punycode) form


def _check_events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned: list[str] = []
    for pattern in value:
        problem = pattern_problem(pattern)
        if problem is not None:
            raise ValueError(problem)
        if pattern not in cleaned:
            cleaned.append(pattern)
    return cleaned


class WebhookCreate(RequestModel):
    url: str = Field(max_length=2048, examples=["https://example.com/hooks/callplane"])
    events: list[str] = Field(min_length=1, max_length=50, description=_EVENTS_DESCRIPTION)
    description: str | None = Field(default=None, max_length=500)
    active: bool = True

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)


class WebhookUpdate(RequestModel):
    """Omitted fields are left alone; `description: null` clears it."""

    url: str | None = Field(default=None, max_length=2048)
    events: list[str] | None = Field(
        default=None, min_length=1, max_length=50, description=_EVENTS_DESCRIPTION
    )
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = None

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)
    _not_null = field_validator("url", "events", "active", mode="before")(not_null)


class WebhookRead(ResponseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_at: UTCDateTime
    updated_at: UTCDateTime


class WebhookWithSecret(WebhookRead):
    secret: str = Field(
        description="Signing secret in the Standard Webhooks format, `whsec_` + base64 of the "
        "HMAC-SHA256 key: pass it as it is to a Standard Webhooks library. Shown once: store "
        "it now; `POST /core/webhooks/{id}/rotate-secret` issues a new one."
    )


class DeliveryRead(ResponseModel):
    id: uuid.UUID = Field(description="Sent as the `webhook-id` header (Standard Webhooks).")
    webhook_id: uuid.UUID
    event_id: uuid.UUID = Field(description="The audit event's id: the payload's `id`.")
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = Field(description="HTTP status of the last attempt.")
    last_error: str | None = Field(description="Why the last attempt failed.")
    last_response: str | None = Field(description="The start of the last response body.")
    created_at: UTCDateTime
    last_attempt_at: UTCDateTime | None
    next_attempt_at: UTCDateTime | None = Field(description="When a pending delivery is retried.")
    delivered_at: UTCDateTime | None


class EventResource(ResponseModel):
    type: str
    id: str


class WebhookEvent(ResponseModel):
    """The JSON body of every delivery."""

    id: uuid.UUID = Field(description="The event's id; the same for every delivery of it.")
    type: str = Field(examples=["agent.created"])
    created_at: UTCDateTime
    organization_id: uuid.UUID
    resource: EventResource
    actor: AuditActor
    changes: dict[str, Any]
    request_id: str | None
