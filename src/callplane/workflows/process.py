"""Running the engine inside a process: the API (embedded or enqueue-only) or a worker."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import timedelta

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.llm import writer_for
from callplane.ops import housekeeping
from callplane.webhooks import fanout as webhooks  # also registers its listener and workflow
from callplane.workflows import engine, repository
from callplane.workflows.catalog import WORKFLOWS
from callplane.workflows.runtime import Runtime, set_runtime

logger = logging.getLogger("callplane.workflows")

SWEEP_INTERVAL_SECONDS = 15.0
SWEEP_AGE = timedelta(seconds=10)


async def start(settings: Settings, database: Database, *, listen: bool) -> None:
    set_runtime(Runtime(settings, database, lambda: writer_for(settings)))
    await engine.launch(settings, listen=listen)


def stop() -> None:
    engine.shutdown()
    set_runtime(None)


async def sweep(database: Database) -> int:
    """Enqueue runs accepted by an API process that died before handing them to the engine.
    Enqueuing is idempotent by workflow id, so a run the engine already has is left alone."""
    async with database.session(write=False) as session:
        stale = await repository.stale_queued(session, utcnow() - SWEEP_AGE)
    for run in stale:
        workflow = WORKFLOWS.get(run.type)
        if workflow is not None:
            await engine.enqueue(workflow, run.id, run.id)
    return len(stale) + await webhooks.sweep(database, SWEEP_AGE)


async def sweep_forever(database: Database, settings: Settings) -> None:
    """The sweep every SWEEP_INTERVAL_SECONDS, and housekeeping every INTERVAL_SECONDS of its."""
    housekept_at = -math.inf
    while True:
        try:
            await sweep(database)
        except Exception:  # keep sweeping; the next round may succeed
            logger.exception("workflow sweep failed")
        if time.monotonic() - housekept_at >= housekeeping.INTERVAL_SECONDS:
            housekept_at = time.monotonic()
            try:
                await housekeeping.prune(database, settings)
            except Exception:  # the next round tries again
                logger.exception("housekeeping failed")
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)


async def run_worker(settings: Settings) -> None:
    """A process that only runs workflows, until SIGINT/SIGTERM; then it stops taking new work
    and gives running workflows a moment to reach a checkpoint."""
    import signal

    from callplane.db.engine import create_engine

    database = Database(create_engine(settings.database_url, pool_size=settings.database_pool_size))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await start(settings, database, listen=True)
    sweeper = asyncio.create_task(sweep_forever(database, settings))
    logger.info(
        "worker started",
        extra={
            "queues": list(engine.queue_names(settings).values()),
            "executor_id": engine.executor_id(),
        },
    )
    try:
        await stopping.wait()
        logger.info("worker stopping: no new workflow steps; unfinished runs resume later")
    finally:
        sweeper.cancel()
        stop()
        await database.dispose()
