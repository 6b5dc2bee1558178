"""The durable workflow engine (DBOS Transact), configured from our Settings.

One DBOS instance per process. Its system database holds the durable execution state: a SQLite
file beside the app database on the embedded default, or the app's PostgreSQL database (schema
`dbos`) when scaled out, where any number of `callplane worker` processes share the queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID
from sqlalchemy.engine import make_url

from callplane.config import Settings

_queue: Any = None


def system_database_url(settings: Settings) -> str:
    if settings.workflow_database_url:
        return settings.workflow_database_url
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "var/callplane.db")
        return f"sqlite:///{database.with_name(database.stem + '.workflows.sqlite')}"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def launch(settings: Settings, *, listen: bool) -> None:
    """Start the engine in this process: recover its own unfinished workflows and, if `listen`,
    take work from the shared queue. Workflow modules must be imported before this."""
    global _queue
    config: DBOSConfig = {
        "name": "callplane",
        "system_database_url": system_database_url(settings),
        # DBOS narrates every migration and queue at INFO; keep it to warnings unless debugging.
        "log_level": "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING",
        "notification_listener_polling_interval_sec": 0.1,
    }
    if settings.workflow_executor_id:
        config["executor_id"] = settings.workflow_executor_id
    DBOS(config=config)
    # Queues registered by any process are known to all; take work only from ours.
    DBOS.listen_queues([settings.workflow_queue] if listen else [])
    DBOS.launch()
    _queue = await DBOS.register_queue_async(
        settings.workflow_queue,
        worker_concurrency=settings.workflow_concurrency,
        polling_interval_sec=0.2,
    )


def shutdown(timeout_seconds: int = 5) -> None:
    global _queue
    _queue = None
    DBOS.destroy(workflow_completion_timeout_sec=timeout_seconds)


def is_running() -> bool:
    return _queue is not None


async def enqueue(workflow: Any, workflow_id: str, *args: Any) -> None:
    """Enqueue `workflow(*args)` under `workflow_id`; enqueuing an existing id is a no-op."""
    if _queue is None:
        raise RuntimeError("the workflow engine is not running in this process")
    with SetWorkflowID(workflow_id):
        await _queue.enqueue_async(workflow, *args)


async def cancel(workflow_id: str) -> None:
    await DBOS.cancel_workflow_async(workflow_id)
