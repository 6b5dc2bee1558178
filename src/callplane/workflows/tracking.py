"""How a workflow reports itself: running, progress per step, and how it ended.

The runs domain's side of a workflow (the `workflow_runs` rows the API serves and their audit
events), not the engine's: the engine modules (engine, runtime, steps, takeover) import no domain.

These writes are idempotent, so they are safe to repeat when a workflow is recovered after a
crash. A run that was cancelled is never flipped back (see `update_unfinished`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update

from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.models import WorkflowRun
from callplane.workflows import engine, repository
from callplane.workflows.runtime import runtime

logger = logging.getLogger("callplane.workflows")


class StepFailed(Exception):
    """A step failed for good: `code` and a human `message` go into the run's `error`."""

    transient = False

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def is_transient(error: BaseException) -> bool:
    """Retry policy for steps: errors that say they are transient (timeouts, 5xx) are retried."""
    return bool(getattr(error, "transient", False))


async def load(run_id: str) -> WorkflowRun | None:
    async with runtime().database.session(write=False) as session:
        return await repository.get(session, run_id)


async def _update(run_id: str, **values: Any) -> bool:
    async with runtime().database.session(write=True) as session, session.begin():
        return await repository.update_unfinished(session, run_id, **values)


async def progress(run_id: str, step: str, message: str, completed: int, total: int) -> None:
    logger.info(
        "workflow step %s (%d/%d)",
        step,
        completed,
        total,
        extra={
            "workflow_id": run_id,
            "step": step,
            "completed_steps": completed,
            "total_steps": total,
        },
    )
    await _update(
        run_id,
        progress={
            "step": step,
            "message": message,
            "completed_steps": completed,
            "total_steps": total,
        },
    )


async def execute(
    run_id: str,
    body: Callable[[WorkflowRun], Awaitable[dict[str, Any]]],
    cleanup: Callable[[WorkflowRun], Awaitable[None]] | None = None,
) -> None:
    """Run `body` for the run, recording how it ends; `cleanup` undoes half-made work on failure."""
    run = await load(run_id)
    if run is None or run.status in ("succeeded", "failed", "cancelled"):
        return
    async with runtime().database.session(write=True) as session, session.begin():
        await session.execute(
            update(WorkflowRun)
            .where(WorkflowRun.id == run_id, WorkflowRun.status.in_(("queued", "running")))
            .values(
                status="running",
                started_at=run.started_at or utcnow(),
                attempts=WorkflowRun.attempts + 1,
                updated_at=utcnow(),
            )
        )
    logger.info("workflow started", extra={**_ids(run), "attempt": run.attempts + 1})
    try:
        result = await body(run)
    except engine.WorkflowCancelled:
        logger.info("workflow cancelled", extra=_ids(run))
        if cleanup is not None:
            await cleanup(run)
        raise
    except StepFailed as failure:
        await _fail(run, failure.code, failure.message, cleanup)
        return
    except Exception as error:
        cause = engine.retries_exhausted(error)
        if cause is not None:
            code = getattr(cause, "code", "retries_exhausted")
            message = getattr(cause, "message", None) or str(cause)
            await _fail(run, code, f"{message} (gave up after retries)", cleanup)
            return
        if engine.is_engine_signal(error):
            raise  # engine signals belong to the engine
        logger.exception("workflow raised an unexpected error", extra=_ids(run))
        code = getattr(error, "code", "internal_error")
        await _fail(run, code, getattr(error, "message", None) or str(error), cleanup)
        return
    logger.info("workflow succeeded", extra=_ids(run))
    await _finish(run, "succeeded", result=result)


def _ids(run: WorkflowRun) -> dict[str, str]:
    """What every workflow log line carries, to find all of one run's lines."""
    return {"workflow_id": run.id, "workflow_type": run.type}


async def _fail(
    run: WorkflowRun,
    code: str,
    message: str,
    cleanup: Callable[[WorkflowRun], Awaitable[None]] | None,
) -> None:
    logger.warning("workflow failed: %s", code, extra={**_ids(run), "error_code": str(code)})
    if cleanup is not None:
        await cleanup(run)
    await _finish(run, "failed", error={"code": str(code), "message": message[:2000]})


async def _finish(run: WorkflowRun, status: str, **values: Any) -> None:
    """The run's end and its audit event, together (a cancelled run is left as it is)."""
    async with runtime().database.session(write=True) as session, session.begin():
        audit.act_as(session, audit.Actor("workflow", run.id))
        if await repository.update_unfinished(
            session, run.id, status=status, finished_at=utcnow(), **values
        ):
            changes = {
                "type": run.type,
                **({"error": values["error"]} if "error" in values else {}),
            }
            await audit.record(
                session, run.organization_id, f"workflow.{status}", "workflow", run.id, changes
            )
