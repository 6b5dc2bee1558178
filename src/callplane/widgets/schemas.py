from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from pydantic import Field, field_validator

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime, not_null

# A hostname (optionally `*.` for every subdomain, optionally `:port`), lowercase ASCII.
_DOMAIN = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$"
)
MAX_CONFIG_BYTES = 16 * 1024


def _check_domains(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned: list[str] = []
    for raw in value:
        domain = raw.strip().lower()
        for prefix in ("https://", "http://"):
            domain = domain.removeprefix(prefix)
        domain = domain.rstrip("/")
        if not _DOMAIN.match(domain):
            raise ValueError(f"{raw!r} is not a domain (e.g. example.com, *.example.com)")
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned


def _check_config(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(orjson.dumps(value)) > MAX_CONFIG_BYTES:
        raise ValueError(f"config must be at most {MAX_CONFIG_BYTES} bytes as JSON")
    return value


class WidgetCreate(RequestModel):
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID = Field(description="A published version of `agent_id`.")
    domains: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Hostnames allowed to embed the widget (CORS); empty means anywhere.",
    )
    published: bool = False
    config: dict[str, Any] = Field(default_factory=dict, description="Widget appearance, ≤ 16 KiB.")

    _domains = field_validator("domains")(_check_domains)
    _config = field_validator("config")(_check_config)


class WidgetUpdate(RequestModel):
    agent_version_id: uuid.UUID | None = None
    domains: list[str] | None = Field(default=None, max_length=50)
    published: bool | None = None
    config: dict[str, Any] | None = None

    _domains = field_validator("domains")(_check_domains)
    _config = field_validator("config")(_check_config)

    _not_null = field_validator(
        "agent_version_id", "domains", "published", "config", mode="before"
    )(not_null)


class WidgetRead(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    domains: list[str]
    published: bool
    config: dict[str, Any]
    created_at: UTCDateTime
    updated_at: UTCDateTime


class PublicWidget(ResponseModel):
    """What an embedding page may see: no organization data."""

    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    config: dict[str, Any]
