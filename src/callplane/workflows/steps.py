"""The write transaction of a workflow step.

A step's writes and DBOS's checkpoint of the step are two commits: a process that dies between
them has the step run again after recovery (by itself when restarted, or by a survivor that takes
its work over). So a step's writes must be safe to repeat: the rows it makes have ids derived
from the workflow id (found, not made twice, on the re-run), and the audit events it records
(and so their webhook deliveries) are exactly-once per step, keyed by the recorder
(`audit.recorder`, "Inside a workflow step"). docs/workflows.md, "Exactly-once events".

Who acts in a step's transaction is set by the hooks the wiring installs (`on_transaction`):
the engine knows no domain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.workflows import engine
from callplane.workflows.runtime import runtime

logger = logging.getLogger("callplane.workflows")

# Called with each step transaction's session and its workflow's id (None when the step's body
# is called outside a workflow, as tests do), as the transaction begins.
TransactionHook = Callable[[AsyncSession, str | None], None]
_transaction_hooks: list[TransactionHook] = []


def on_transaction(hook: TransactionHook) -> None:
    if hook not in _transaction_hooks:
        _transaction_hooks.append(hook)


@asynccontextmanager
async def transaction(step: str) -> AsyncIterator[AsyncSession]:
    """One write transaction of the step named `step`, acting as its workflow."""
    async with runtime().database.session(write=True) as session:
        async with session.begin():
            workflow_id = engine.current_workflow_id()
            for hook in _transaction_hooks:
                hook(session, workflow_id)
            yield session
        await _test_pause(step)


async def _test_pause(step: str) -> None:
    """Tests only (CALLPLANE_TEST_PAUSE_AFTER_STEP, refused in production): hold the named step
    here, its transaction committed and its checkpoint not yet written, so that a test can kill
    the process inside that window and watch the step run again."""
    if runtime().settings.test_pause_after_step != step:
        return
    logger.warning(
        "test pause point: step committed, held before its checkpoint",
        extra={"workflow_id": engine.current_workflow_id(), "step": step},
    )
    await asyncio.Event().wait()  # until the process is killed
