"""`/core/workflows`: status, progress and results of background work, per organization."""

from __future__ import annotations

from fastapi import APIRouter

from callplane.agents.auth import AgentsManager, AgentsReader
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.workflows import service
from callplane.workflows.errors import WorkflowFinished, WorkflowNotFound
from callplane.workflows.repository import WorkflowRunRepository
from callplane.workflows.schemas import WorkflowRead, WorkflowStatus, WorkflowType

router = APIRouter(prefix="/core/workflows", tags=["workflows"])


@router.get("", response_model=Page[WorkflowRead], responses=merge_responses(InvalidCursor))
async def list_workflows(
    subject: AgentsReader,
    session: ReadSession,
    type: WorkflowType | None = None,
    status: WorkflowStatus | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[WorkflowRead]:
    """The organization's workflows, newest first."""
    rows, next_cursor = await WorkflowRunRepository(session, subject.organization_id).list(
        type_=type, status=status, limit=limit, cursor=cursor
    )
    return Page.of([service.to_read(row) for row in rows], limit, next_cursor)


@router.get(
    "/{workflow_id}",
    response_model=WorkflowRead,
    responses=merge_responses(WorkflowNotFound),
)
async def get_workflow(
    workflow_id: str, subject: AgentsReader, session: ReadSession
) -> WorkflowRead:
    run = await WorkflowRunRepository(session, subject.organization_id).get_run(workflow_id)
    if run is None:
        raise WorkflowNotFound()
    return service.to_read(run)


@router.post(
    "/{workflow_id}/cancel",
    status_code=202,
    response_model=WorkflowRead,
    responses=merge_responses(WorkflowNotFound, WorkflowFinished),
)
async def cancel_workflow(
    workflow_id: str, subject: AgentsManager, session: WriteSession
) -> WorkflowRead:
    """Cancel a queued or running workflow; its current step finishes, no further step runs."""
    run = await service.WorkflowService(session, subject.organization_id).cancel(workflow_id)
    return service.to_read(run)
