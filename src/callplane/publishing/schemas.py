from __future__ import annotations

from typing import Literal

from pydantic import Field

from callplane.kit.schemas import RequestModel

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
