from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from callplane.kit.schemas import ResponseModel, UTCDateTime


class AuditActor(ResponseModel):
    type: str = Field(description="api_key | user | workflow | system")
    id: str | None = Field(description="API key id, user id or workflow id.")
    credential_id: uuid.UUID | None = Field(
        description="The API key or personal access token used (never its secret)."
    )


class AuditEventRead(ResponseModel):
    id: uuid.UUID
    action: str = Field(examples=["agent.version.published"])
    resource_type: str
    resource_id: str
    actor: AuditActor
    changes: dict[str, Any] = Field(description="What changed: `{field: {from, to}}` or facts.")
    request_id: str | None
    created_at: UTCDateTime
