"""The one query a scrape makes."""

from __future__ import annotations

from sqlalchemy import func, select

from callplane.db.engine import Database
from callplane.models import WorkflowRun


async def workflow_counts(database: Database) -> dict[tuple[str, str], int]:
    """Runs per (type, status), across organizations: one GROUP BY over `workflow_runs`."""
    statement = select(WorkflowRun.type, WorkflowRun.status, func.count()).group_by(
        WorkflowRun.type, WorkflowRun.status
    )
    async with database.session(write=False) as session:
        rows = await session.execute(statement)
        return {(type_, status): count for type_, status, count in rows}
