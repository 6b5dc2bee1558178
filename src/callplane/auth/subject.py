"""Who is calling, in which organization, with which scopes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class AuthSubject:
    organization_id: uuid.UUID
    scopes: frozenset[str]
    kind: Literal["api_key", "user"]
    credential_id: uuid.UUID
    user_id: uuid.UUID | None
    # The credential's own expiry: what it creates may not outlive it (organizations.service).
    expires_at: datetime | None

    def has_any(self, *scopes: str) -> bool:
        return not self.scopes.isdisjoint(scopes)  # a C loop: on every authorized request
