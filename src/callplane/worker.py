"""Running the workflow engine inside a process: the API (embedded or enqueue-only) or a worker.

`start` installs the process's workflows, listeners and hooks (callplane.wiring) first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import timedelta

from callplane import wiring
from callplane.analytics import analysis
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.kit import memory
from callplane.ops import housekeeping
from callplane.webhooks import fanout as webhooks
from callplane.workflows import engine
from callplane.workflows import service as workflows
from callplane.workflows.runtime import Runtime, set_runtime

logger = logging.getLogger("callplane.workflows")

SWEEP_INTERVAL_SECONDS = 15.0
SWEEP_AGE = timedelta(seconds=10)
ANALYSIS_SWEEP_AGE = timedelta(minutes=10)


async def start(settings: Settings, database: Database, *, listen: bool) -> None:
    """Launch the workflow engine on a process already wired (`wiring.install()`: by create_app
    for an API process, by `run_worker` for a worker)."""
    set_runtime(Runtime(settings, database, lambda: wiring.writer(settings)))
    await engine.launch(settings, listen=listen)


async def stop() -> None:
    """Stop the engine, giving running workflows its grace period to finish. The engine waits in
    a thread: waiting on the event loop would freeze the workflows this process started on that
    loop (an embedded API's own work), so none could finish and each then failed its next step
    for want of the runtime cleared here."""
    await asyncio.to_thread(engine.shutdown)
    set_runtime(None)


async def sweep(database: Database) -> int:
    """Enqueue the runs and webhook deliveries whose process died between commit and enqueue
    (and conversations left waiting for their analysis for long: a batch may take minutes)."""
    return (
        await workflows.enqueue_stale(database, SWEEP_AGE)
        + await webhooks.sweep(database, SWEEP_AGE)
        + await analysis.sweep_pending(database, ANALYSIS_SWEEP_AGE)
    )


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
    wiring.install()
    await start(settings, database, listen=True)
    sweeper = asyncio.create_task(sweep_forever(database, settings))
    memory.trim()
    trimmer = asyncio.create_task(memory.trim_periodically())
    logger.info(
        "worker started",
        extra={
            "queues": list(engine.queue_names(settings).values()),
            "executor_id": engine.executor_id(),
        },
    )
    try:
        await stopping.wait()
        logger.info("worker stopping: no new work; what does not finish in time resumes later")
    finally:
        sweeper.cancel()
        trimmer.cancel()
        await stop()
        await database.dispose()
