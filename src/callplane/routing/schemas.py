"""What `GET /core/routing/resolve` answers (imported by the SDK: pydantic only)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from callplane.kit.schemas import ResponseModel

Direction = Literal["inbound", "outbound"]


class RoutedAgent(ResponseModel):
    id: uuid.UUID
    name: str


class RoutedVersion(ResponseModel):
    id: uuid.UUID
    version: int


class ResolvedRoute(ResponseModel):
    agent: RoutedAgent
    version: RoutedVersion = Field(
        description="The version in the number's slot, or the agent's live version (SIP)."
    )
    slot: Direction | None = Field(description="The phone slot that answered; null for SIP.")
    channel: Literal["telephone"] = Field(description="The channel whose overrides are applied.")
    config: dict[str, Any] = Field(
        description=(
            "The version's AgentConfig with its `telephone` channel override applied (and that "
            "override emptied); templates such as `{{name}}` are left for the runtime."
        )
    )
    etag: str = Field(description="Also the ETag header; send it as If-None-Match to get 304.")
