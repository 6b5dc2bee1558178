from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from callplane.kit.schemas import RequestModel


def _website(value: str) -> str:
    """An http(s) URL; a bare host (`acme.example`) means https. No credentials in it."""
    value = value.strip()
    if "://" not in value:
        value = "https://" + value
    problem = ValueError("must be an http(s) URL, e.g. https://acme.example")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise problem from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or port == 0
        or len(value) > 2000
        or any(c.isspace() for c in value)
    ):
        raise problem
    return value


class CreateFromWebsite(RequestModel):
    company_name: str = Field(min_length=1, max_length=200)
    company_website: str = Field(description="The site to crawl, e.g. https://acme.example")
    company_overview: str | None = Field(default=None, max_length=5000)
    is_demo: bool = False
    skip_deployment: bool = Field(
        default=False, description="Leave the new version as a draft: no publish, SIP or widget."
    )
    voice_id: str | None = Field(default=None, max_length=200)
    avatar_url: str | None = Field(
        default=None, max_length=2000, description="Goes into the widget."
    )
    existing_agent_id: uuid.UUID | None = Field(
        default=None, description="Add a new version to this agent instead of creating one."
    )
    existing_collection_id: uuid.UUID | None = Field(
        default=None, description="Add the pages to this knowledge collection."
    )
    demo_type: str | None = Field(default=None, max_length=50)

    _site = field_validator("company_website")(_website)

    @field_validator("company_name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("company_name must not be blank")
        return value


class CreateDemo(RequestModel):
    company_website: str = Field(description="The site to crawl, e.g. https://acme.example")
    instructions: str | None = Field(
        default=None, max_length=20_000, description="Added to the generated instructions."
    )
    include_phone_number: bool = Field(
        default=False, description="Assign a free number of the organization (inbound)."
    )

    _site = field_validator("company_website")(_website)


class Build(BaseModel):
    """What a website build does, from either request (`create_from_website`, `create_demo`:
    one workflow under two names). A demo is `is_demo`, deployed, with the demo's options."""

    run_id: str
    organization_id: uuid.UUID
    website: str
    company_name: str | None = None
    company_overview: str | None = None
    instructions: str | None = None
    is_demo: bool = False
    skip_deployment: bool = False
    voice_id: str | None = None
    avatar_url: str | None = None
    existing_agent_id: uuid.UUID | None = None
    existing_collection_id: uuid.UUID | None = None
    demo_type: str | None = None
    include_phone_number: bool = False

    @classmethod
    def of(cls, run_id: str, organization_id: uuid.UUID, request: BuildRequest) -> Build:
        common = {"run_id": run_id, "organization_id": organization_id}
        if isinstance(request, CreateDemo):
            return cls(
                **common,
                website=request.company_website,
                instructions=request.instructions,
                include_phone_number=request.include_phone_number,
                is_demo=True,
            )
        fields = request.model_dump(exclude={"company_website"})
        return cls(**common, **fields, website=request.company_website)

    @property
    def steps(self) -> int:
        return 4 if self.skip_deployment else 5


BuildRequest = CreateFromWebsite | CreateDemo


class KnowledgeStep(BaseModel):
    build: Build
    name: str
    profile: dict[str, Any]


class ConfigStep(BaseModel):
    build: Build
    company_name: str
    profile: dict[str, Any]
    collection_id: str


class CreateStep(BaseModel):
    build: Build
    company_name: str
    website: str  # where the crawl landed
    config: dict[str, Any]


class Created(BaseModel):
    agent_id: uuid.UUID
    version: int


class DeployStep(BaseModel):
    build: Build
    created: Created
    domain: str
    company_name: str
