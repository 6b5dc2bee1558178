from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, field_validator

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime, not_null
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164

Slot = Literal["inbound", "outbound"]


class PhoneNumberCreate(RequestModel):
    phone_number: str = Field(description="E.164, e.g. +14155551234 (normalized on input).")
    label: str | None = Field(default=None, max_length=200)
    outbound_shareable: bool = False

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            return to_e164(value)
        except InvalidPhoneNumber as exc:
            raise ValueError(str(exc)) from None


class PhoneNumberUpdate(RequestModel):
    label: str | None = Field(default=None, max_length=200)
    outbound_shareable: bool | None = None

    _not_null = field_validator("outbound_shareable", mode="before")(not_null)


class PhoneNumberRead(ResponseModel):
    phone_number: str
    label: str | None
    outbound_shareable: bool
    inbound_agent_id: uuid.UUID | None
    inbound_agent_version_id: uuid.UUID | None
    inbound_version: int | None
    outbound_agent_id: uuid.UUID | None
    outbound_agent_version_id: uuid.UUID | None
    outbound_version: int | None
    created_at: UTCDateTime
    updated_at: UTCDateTime
