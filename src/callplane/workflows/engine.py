"""The durable workflow engine (DBOS Transact), configured from our Settings.

One DBOS instance per process. Its system database holds the durable execution state: a SQLite
file beside the app database on the embedded default, or the app's PostgreSQL database (schema
`dbos`) when scaled out, where any number of `callplane worker` processes share the queue and
take over the unfinished work of any that dies (takeover.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID
from sqlalchemy.engine import make_url

from callplane.config import Settings
from callplane.workflows.takeover import ExecutorGuard

APP_NAME = "callplane"
SYSTEM_SCHEMA = "dbos"
# How long a starting process waits for its own executor lock before refusing to start.
EXECUTOR_LOCK_WAIT_SECONDS = 60.0

# The queue of the builds and instruction generation, and the webhook deliveries' own: a flood
# of deliveries to slow receivers must not take every slot the other work needs.
WORK, WEBHOOKS = "work", "webhooks"
_queues: dict[str, Any] = {}
_guard: ExecutorGuard | None = None


def queue_names(settings: Settings) -> dict[str, str]:
    return {WORK: settings.workflow_queue, WEBHOOKS: f"{settings.workflow_queue}-webhooks"}


def system_database_url(settings: Settings) -> str:
    if settings.workflow_database_url:
        return settings.workflow_database_url
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "var/callplane.db")
        return f"sqlite:///{database.with_name(database.stem + '.workflows.sqlite')}"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _executor_id_for(settings: Settings) -> str | None:
    """The configured id; else, on PostgreSQL, a fresh one per process (a restarted process's old
    work is then taken over like any dead process's); else DBOS's default (`local`)."""
    configured = settings.workflow_executor_id or os.environ.get("DBOS__VMID")
    if configured or _is_sqlite(system_database_url(settings)):
        return configured
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


async def launch(settings: Settings, *, listen: bool) -> None:
    """Start the engine in this process: recover its own unfinished workflows and, if `listen`,
    take work from the shared queue (and, on PostgreSQL, dead processes' unfinished work).
    Workflow modules must be imported before this."""
    global _guard
    url = system_database_url(settings)
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": url,
        "dbos_system_schema": SYSTEM_SCHEMA,
        # DBOS narrates every migration and queue at INFO; keep it to warnings unless debugging.
        "log_level": "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING",
        "notification_listener_polling_interval_sec": 0.1,
    }
    identity = _executor_id_for(settings)
    if identity:
        config["executor_id"] = identity
    DBOS(config=config)
    # Queues registered by any process are known to all; take work only from ours.
    names = queue_names(settings)
    DBOS.listen_queues(list(names.values()) if listen else [])
    if listen and not _is_sqlite(url):
        # Hold our lock before any workflow can run under our id, and for as long as we live.
        guard = ExecutorGuard(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
            executor_id=DBOS.executor_id,
            app_name=APP_NAME,
            schema=SYSTEM_SCHEMA,
            interval=settings.workflow_takeover_interval_seconds,
            recover=_recover,
        )
        await asyncio.to_thread(guard.acquire, EXECUTOR_LOCK_WAIT_SECONDS)
        _guard = guard
    DBOS.launch()
    concurrency = {WORK: settings.workflow_concurrency, WEBHOOKS: settings.webhook_concurrency}
    for kind, name in names.items():
        _queues[kind] = await DBOS.register_queue_async(
            name, worker_concurrency=concurrency[kind], polling_interval_sec=0.2
        )
    if _guard is not None:
        _guard.start(DBOS.application_version)


def shutdown(timeout_seconds: int = 5) -> None:
    """Stop taking work, give running workflows a moment, then release our executor lock: what
    is still unfinished is taken over by a live process."""
    global _guard
    _queues.clear()
    DBOS.destroy(workflow_completion_timeout_sec=timeout_seconds)
    if _guard is not None:
        _guard.stop()
        _guard = None


def is_running() -> bool:
    return bool(_queues)


def executor_id() -> str:
    """The id this process's workflows are recorded under (for logs)."""
    return str(DBOS.executor_id)


async def enqueue(workflow: Any, workflow_id: str, *args: Any, queue: str = WORK) -> None:
    """Enqueue `workflow(*args)` under `workflow_id` on `queue` (WORK or WEBHOOKS); enqueuing
    an existing id is a no-op."""
    if not _queues:
        raise RuntimeError("the workflow engine is not running in this process")
    with SetWorkflowID(workflow_id):
        await _queues[queue].enqueue_async(workflow, *args)


DBOS_FINISHED_STATUSES = ["SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]


async def delete_finished_before(cutoff: datetime, limit: int) -> int:
    """Deletes up to `limit` of the engine's records (status, inputs, step outputs) of workflows
    that finished before `cutoff`, and returns how many. Our own `workflow_runs` rows, which the
    API serves, are not touched."""
    finished = await DBOS.list_workflows_async(
        status=DBOS_FINISHED_STATUSES,
        completed_before=cutoff.isoformat(),
        limit=limit,
        load_input=False,
        load_output=False,
    )
    if finished:
        await DBOS.delete_workflows_async([workflow.workflow_id for workflow in finished])
    return len(finished)


async def cancel(workflow_id: str) -> None:
    await DBOS.cancel_workflow_async(workflow_id)


def _recover(dead_executor_id: str) -> int:
    """Put a dead executor's unfinished workflows back on their queues (DBOS recovery)."""
    return len(DBOS._recover_pending_workflows([dead_executor_id]))


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"
