from __future__ import annotations

import uuid
from datetime import datetime

from callplane.db.repository import OrgRepository
from callplane.kit.pagination import paginate
from callplane.models import AuditEvent


class AuditEventRepository(OrgRepository[AuditEvent]):
    model = AuditEvent

    async def list(
        self,
        *,
        action: str | None,
        resource_type: str | None,
        resource_id: str | None,
        actor_id: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[AuditEvent], str | None]:
        statement = self.scoped()
        if action is not None:
            statement = statement.where(AuditEvent.action == action)
        if resource_type is not None:
            statement = statement.where(AuditEvent.resource_type == resource_type)
        if resource_id is not None:
            statement = statement.where(AuditEvent.resource_id == resource_id)
        if actor_id is not None:
            statement = statement.where(AuditEvent.actor_id == actor_id)
        if created_after is not None:
            statement = statement.where(AuditEvent.created_at > created_after)
        if created_before is not None:
            statement = statement.where(AuditEvent.created_at < created_before)
        return await paginate(
            self.session,
            statement,
            (AuditEvent.created_at, AuditEvent.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )
