from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from callplane.kit.schemas import RequestModel, ResponseModel
from callplane.phone_numbers.schemas import PhoneNumberRead, Slot
from callplane.versions.schemas import MAX_VERSION

Direction = Literal["inbound", "outbound", "both"]


class PublishRequest(RequestModel):
    phone_numbers: list[str] | None = Field(
        default=None, max_length=1000, description="Numbers to assign this version to."
    )
    unassign_phone_numbers: list[str] | None = Field(
        default=None, max_length=1000, description="Numbers to clear of this agent."
    )
    direction: Direction = Field(
        default="inbound", description="Which slot(s) to write or clear; the other is untouched."
    )


class SlotHolder(ResponseModel):
    """The agent version a phone slot held."""

    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    version: int


class PublishedPhoneNumber(PhoneNumberRead):
    previous: dict[Slot, SlotHolder | None] = Field(
        description=(
            "What each slot the call addressed (its `direction`) held just before it: null when "
            "empty. A holder of another agent on an assigned number means the call took the "
            "number away from that agent."
        )
    )


class RollbackRequest(RequestModel):
    to_version: int = Field(
        ge=1,
        le=MAX_VERSION,
        strict=True,  # `true` or "1" is more likely a mistake than version 1: every line moves
        description="A published version of this agent to make live again (an integer).",
    )


class SlotChange(ResponseModel):
    phone_number: str
    direction: Slot
    from_version: int
    to_version: int


class RollbackRead(ResponseModel):
    agent_id: uuid.UUID
    version: int = Field(description="The version now live.")
    agent_version_id: uuid.UUID
    previous_live_version: int | None = Field(description="The version live before the rollback.")
    changed: list[SlotChange] = Field(
        description="Every phone slot moved to `version`, by number then direction."
    )
