"""Starting, reading and cancelling workflows from the API side."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.db.engine import Database
from callplane.db.session import after_commit
from callplane.db.types import new_id, utcnow
from callplane.idempotency.middleware import reservation
from callplane.models import WorkflowRun
from callplane.workflows import engine, repository
from callplane.workflows.errors import WorkflowEngineUnavailable, WorkflowFinished, WorkflowNotFound
from callplane.workflows.repository import WorkflowRunRepository
from callplane.workflows.schemas import FINISHED, Progress, WorkflowError, WorkflowRead

_NAMESPACE = uuid.UUID("6f1c1d0e-8d7c-4b0e-9a51-4c1f2b7f7a10")

CancelHook = Callable[[AsyncSession, WorkflowRun], Awaitable[None]]
_cancel_hooks: dict[str, CancelHook] = {}


def on_cancel(type_: str, hook: CancelHook) -> None:
    """Let a workflow type undo its visible state (e.g. `generating`) when a run is cancelled,
    in the cancelling transaction: a cancelled workflow may never run its own code again.
    Installed by the wiring (callplane.wiring)."""
    _cancel_hooks[type_] = hook


def derive_workflow_id(request: Request) -> str:
    """Same Idempotency-Key record (organization, credential, key) + route ⇒ same workflow id, so
    a retried request can never start a second workflow (the engine dedups by id); another
    credential's request under the same key is another request; without a key, a fresh id."""
    record = reservation(request)
    if record is None:
        return str(new_id())
    name = (
        f"{record.organization_id}:{record.credential_id}:{request.method}:{request.url.path}:"
        f"{record.key}"
    )
    return str(uuid.uuid5(_NAMESPACE, name))


class WorkflowService:
    """Starting and cancelling an organization's workflow runs."""

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.runs = WorkflowRunRepository(session, organization_id)

    async def start(
        self, *, workflow_id: str, type_: str, input_: dict[str, Any], total_steps: int
    ) -> WorkflowRun:
        """Record the run of the workflow `type_` (its durable name) in this transaction;
        enqueue it only once the transaction has committed.

        If the process dies in between, the worker's sweep enqueues queued runs it finds.
        """
        if not engine.is_running():
            raise WorkflowEngineUnavailable()
        existing = await self.runs.get_run(workflow_id)
        if existing is not None:
            if existing.status not in FINISHED:
                return existing  # the same request again while its workflow runs
            # The key's idempotency record expired and it is reused for new work: a new run.
            workflow_id = str(new_id())
        run = self.runs.add(
            WorkflowRun(
                id=workflow_id,
                type=type_,
                status="queued",
                input=input_,
                progress={"completed_steps": 0, "total_steps": total_steps},
                attempts=0,
            )
        )
        await self.session.flush()
        await self._record("workflow.started", run)

        async def enqueue() -> None:
            await engine.enqueue(type_, workflow_id, workflow_id)

        after_commit(self.session, enqueue)
        return run

    async def cancel(self, workflow_id: str) -> WorkflowRun:
        run = await self.runs.get_run(workflow_id, for_update=True)
        if run is None:
            raise WorkflowNotFound()
        if run.status in FINISHED:
            raise WorkflowFinished(f"The workflow has already finished ({run.status}).")
        run.status = "cancelled"
        run.finished_at = utcnow()
        run.error = {"code": "cancelled", "message": "Cancelled on request."}
        hook = _cancel_hooks.get(run.type)
        if hook is not None:
            await hook(self.session, run)
        await self._record("workflow.cancelled", run)

        async def stop() -> None:
            await engine.cancel(workflow_id)

        after_commit(self.session, stop)
        return run

    async def _record(self, action: str, run: WorkflowRun) -> None:
        await audit.record(
            self.session, self.organization_id, action, "workflow", run.id, {"type": run.type}
        )


async def enqueue_stale(database: Database, age: timedelta) -> int:
    """Enqueue runs accepted by an API process that died before handing them to the engine.
    Enqueuing is idempotent by workflow id, so a run the engine already has is left alone."""
    async with database.session(write=False) as session:
        stale = await repository.stale_queued(session, utcnow() - age)
    for run in stale:
        if engine.knows(run.type):
            await engine.enqueue(run.type, run.id, run.id)
    return len(stale)


def to_read(run: WorkflowRun) -> WorkflowRead:
    return WorkflowRead(
        workflow_id=run.id,
        type=run.type,
        status=run.status,
        progress=Progress.model_validate(run.progress or {}),
        result=run.result,
        error=WorkflowError.model_validate(run.error) if run.error else None,
        attempts=run.attempts,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )
