"""`GET /core/audit-events`: the organization's audit log, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from callplane.audit.repository import AuditEventRepository
from callplane.audit.schemas import AuditActor, AuditEventRead
from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession
from callplane.errors import merge_responses
from callplane.kit.filters import TimeFilters, created_filters
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.models import AuditEvent

router = APIRouter(prefix="/core/audit-events", tags=["audit"])

AuditReader = Annotated[AuthSubject, Requires(Scope.AUDIT_READ)]
Filter = Annotated[str | None, Query(max_length=100)]


def to_read(event: AuditEvent) -> AuditEventRead:
    return AuditEventRead(
        id=event.id,
        action=event.action,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        actor=AuditActor(
            type=event.actor_type, id=event.actor_id, credential_id=event.credential_id
        ),
        changes=event.changes,
        request_id=event.request_id,
        created_at=event.created_at,
    )


@router.get("", response_model=Page[AuditEventRead], responses=merge_responses(InvalidCursor))
async def list_audit_events(
    subject: AuditReader,
    session: ReadSession,
    times: Annotated[TimeFilters, Depends(created_filters)],
    action: Annotated[str | None, Query(max_length=80, examples=["agent.created"])] = None,
    resource_type: Filter = None,
    resource_id: Annotated[
        str | None, Query(max_length=100, description="e.g. an agent id or an E.164 number.")
    ] = None,
    actor_id: Annotated[
        str | None, Query(max_length=100, description="API key id, user id or workflow id.")
    ] = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[AuditEventRead]:
    """Every write in the organization: who, what, which resource, what changed, when."""
    rows, next_cursor = await AuditEventRepository(session, subject.organization_id).list(
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        actor_id=actor_id,
        created_after=times.created_after,
        created_before=times.created_before,
        limit=limit,
        cursor=cursor,
    )
    return Page.of([to_read(row) for row in rows], limit, next_cursor)
