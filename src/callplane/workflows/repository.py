from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.db.types import utcnow
from callplane.kit.pagination import paginate
from callplane.models import WorkflowRun
from callplane.workflows.schemas import FINISHED


class WorkflowRunRepository(OrgRepository[WorkflowRun]):
    model = WorkflowRun

    async def get_run(self, run_id: str, *, for_update: bool = False) -> WorkflowRun | None:
        statement = self.scoped().where(WorkflowRun.id == run_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def list(
        self, *, type_: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[WorkflowRun], str | None]:
        statement = self.scoped()
        if type_ is not None:
            statement = statement.where(WorkflowRun.type == type_)
        if status is not None:
            statement = statement.where(WorkflowRun.status == status)
        return await paginate(
            self.session,
            statement,
            (WorkflowRun.created_at, WorkflowRun.id),
            (datetime, str),
            limit=limit,
            cursor=cursor,
        )


# The engine side: a run id names its organization, so these are keyed by id alone.


async def get(session: AsyncSession, run_id: str) -> WorkflowRun | None:
    return await session.get(WorkflowRun, run_id)


async def update_unfinished(session: AsyncSession, run_id: str, **values: Any) -> bool:
    """Update a run unless it already finished (a cancel must not be overwritten)."""
    result = await session.execute(
        update(WorkflowRun)
        .where(WorkflowRun.id == run_id, WorkflowRun.status.not_in(FINISHED))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def stale_queued(session: AsyncSession, older_than: datetime) -> list[WorkflowRun]:
    statement = select(WorkflowRun).where(
        WorkflowRun.status == "queued", WorkflowRun.created_at < older_than
    )
    return list((await session.scalars(statement.limit(100))).all())
