from __future__ import annotations

import time
import uuid

from pydantic import Field, field_validator

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] | None = Field(
        default=None, description="Scopes the key carries; default: all of the creator's."
    )
    expires_at: int | None = Field(
        default=None,
        gt=0,
        lt=253402300800000,
        description=(
            "Expiry, epoch milliseconds, in the future. Null or omitted: never, or, when the "
            "creating credential itself expires, that credential's expiry (a key never outlives "
            "its creator; a later value is refused with 422). The response carries the "
            "expiry the key got."
        ),
    )

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: int | None) -> int | None:
        """A key that is dead on arrival is a mistake (a clock or unit error), never a wish."""
        if value is not None and value <= time.time_ns() // 1_000_000:
            raise ValueError("expires_at must be in the future (epoch milliseconds)")
        return value

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class OrganizationRead(ResponseModel):
    id: uuid.UUID
    name: str
    created_at: UTCDateTime


class ApiKeyRead(ResponseModel):
    key_id: str
    name: str
    scopes: list[str]
    expires_at: int | None
    created_at: UTCDateTime
    revoked_at: UTCDateTime | None = None


class ApiKeyCreated(ApiKeyRead):
    pat_key: str = Field(description="The full key. Shown once: store it now.")
