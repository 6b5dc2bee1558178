"""The durable workflow engine (DBOS Transact), configured from our Settings.

One DBOS instance per process. Its system database holds the durable execution state: a SQLite
file beside the app database on the embedded default, or the app's PostgreSQL database (schema
`dbos`) when scaled out, where any number of `callplane worker` processes share the queue and
take over the unfinished work of any that dies (takeover.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import linecache
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import nullcontext
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TypeVar

from dbos import (
    DBOS,
    DBOSConfig,
    ScheduleInput,
    SetEnqueueOptions,
    SetWorkflowID,
    StepOptions,
    WorkflowHandleAsync,
)
from dbos import error as dbos_error
from sqlalchemy.engine import make_url

from callplane.config import Settings
from callplane.workflows import job_lock
from callplane.workflows.takeover import ExecutorGuard

logger = logging.getLogger("callplane.workflows")

APP_NAME = "callplane"
SYSTEM_SCHEMA = "dbos"
# How often each queue's worker looks for work (DBOS's default is 1 s). On PostgreSQL other
# processes enqueue (`serve --no-worker`, a cluster's API servers): the most their work waits.
QUEUE_POLLING_SECONDS = 0.2
# On SQLite a process that listens starts its own work at once (`enqueue`, below), so the queues
# only carry what could not start here (delayed attempts, work beyond the concurrency bound,
# enqueues from inside workflows, a separate `callplane worker`): a slow safety-net poll, which
# is most of what an idle embedded `serve` costs (ADR 0015).
SQLITE_QUEUE_POLLING_SECONDS = 2.0
# The schedules queue carries only the schedule's ticks (every few minutes, started by DBOS's
# scheduler, never by `enqueue`): on SQLite a tick may wait this long for its poll, which an
# idle embedded `serve` then pays every 10 s rather than every 2 s (ADR 0015).
SQLITE_SCHEDULES_POLLING_SECONDS = 10.0
# How often DBOS checks for the messages and events a workflow waits on (none of ours does).
NOTIFICATION_POLLING_SECONDS = 0.5
# How long a starting process waits for its own executor lock before refusing to start.
EXECUTOR_LOCK_WAIT_SECONDS = 60.0

# The queue of the builds and instruction generation, and the webhook deliveries' own: a flood
# of deliveries to slow receivers must not take every slot the other work needs.
WORK, WEBHOOKS = "work", "webhooks"
# The queue of scheduled workflows: one name for every process that takes work, whatever its
# CALLPLANE_WORKFLOW_QUEUE (a schedule names one queue for the whole cluster: were it a
# process's own queue, the last process to start would take every tick), one at a time each.
SCHEDULES = "schedules"
SCHEDULES_QUEUE = f"{APP_NAME}-schedules"
_queues: dict[str, Any] = {}
_guard: ExecutorGuard | None = None


class _Slots:
    """Workflows this process started itself, per queue, bounded like the queue's own workers."""

    def __init__(self, limits: dict[str, int]):
        self.limits = limits
        self.running = dict.fromkeys(limits, 0)
        self.watchers: set[asyncio.Task[None]] = set()

    def take(self, queue: str) -> bool:
        if self.running[queue] >= self.limits[queue]:
            return False
        self.running[queue] += 1
        return True

    def release(self, queue: str) -> None:
        self.running[queue] -= 1


# Set while this process listens on its queues (the embedded default): its own enqueues start here.
_slots: _Slots | None = None
# Every workflow this process knows, by its durable name (registered by callplane.wiring).
_workflows: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {}
_bodies: dict[str, Callable[..., Awaitable[object]]] = {}  # what each name runs (its version)
# The scheduled workflows among them: name -> its crontab under the process's settings (None:
# not scheduled). Applied to the system database when the engine launches.
_schedules: dict[str, Callable[[Settings], str | None]] = {}

Argument = TypeVar("Argument")
Result = TypeVar("Result")


def register_workflow(name: str, body: Callable[..., Awaitable[object]]) -> None:
    """Make `body` the durable workflow `name`, before the engine launches (recovery finds a
    workflow by its name). The name is stored with every run: renaming it strands the runs
    recorded under the old name. Registering a name again is a no-op."""
    if name in _workflows:
        return

    async def workflow(*args: Any) -> None:
        await body(*args)

    # A fresh function per name: one body may serve several names (DBOS tags the function).
    workflow.__qualname__ = workflow.__name__ = name
    _workflows[name] = DBOS.workflow(name=name)(workflow)
    _bodies[name] = body


def register_schedule(
    name: str,
    body: Callable[[datetime, Any], Awaitable[object]],
    crontab: Callable[[Settings], str | None],
) -> None:
    """Make `body` the durable workflow `name`, started by the engine on the schedule
    `crontab(settings)` (a DBOS crontab with seconds: `sec min hour day month weekday`; None:
    never) with the time of its slot and None. The schedule lives in the system database: every
    process of a cluster fires each slot, under one workflow id per slot, so it runs once; a slot
    missed while no process ran is not made up for. It runs on the SCHEDULES queue (any process
    that takes work). Registering a name again is a no-op."""
    register_workflow(name, body)
    _schedules.setdefault(name, crontab)


def application_version() -> str:
    """The version every process of this code registers with the engine: a hash of our
    workflows' names and bodies' source, and of DBOS's version.

    DBOS would hash the source of the functions registered with it, which are one wrapper
    (`register_workflow`) whatever the body, plus what it registers for itself on demand: two
    processes of the same code (a `serve`, a `worker`, a process test's server) could launch
    under different versions. A process registers the latest version at launch, and DBOS hands
    every scheduled tick to the latest version only: the processes of the other version then
    never ran the ticks (seen as a test waiting forever for a tick). Different workflow code still
    gives a different version, so a process never recovers a run of other code."""
    hasher = hashlib.md5(usedforsecurity=False)
    for name in sorted(_bodies):
        hasher.update(name.encode())
        hasher.update(_source(_bodies[name]).encode())
    hasher.update(package_version("dbos").encode())
    linecache.clearcache()  # the modules' lines inspect read: not worth keeping in memory
    return hasher.hexdigest()


def _source(body: Callable[..., Awaitable[object]]) -> str:
    """The body's source, or (no source installed) where it lives."""
    try:
        return inspect.getsource(body)
    except (OSError, TypeError):
        return f"{getattr(body, '__module__', '')}.{getattr(body, '__qualname__', repr(body))}"


def knows(name: str) -> bool:
    return name in _workflows


async def run_step(
    step: Callable[[Argument], Coroutine[Any, Any, Result]],
    argument: Argument,
    *,
    retry_if: Callable[[BaseException], bool] | None = None,
    max_attempts: int = 1,
) -> Result:
    """Run `step(argument)` as a checkpointed step of the current workflow, named after the
    function (a recovered workflow finds its steps by position and name: never rename a step).
    With `max_attempts` > 1 a failure is retried, one second later and then twice as long each
    time, while `retry_if(error)` says so (every error when None). Outside a workflow, `step`
    simply runs."""
    options = StepOptions(name=step.__qualname__)
    if max_attempts > 1:
        options["retries_allowed"] = True
        options["max_attempts"] = max_attempts
        options["interval_seconds"] = 1.0
        options["backoff_rate"] = 2.0
        if retry_if is not None:
            options["should_retry"] = retry_if
    result: Result = await DBOS.run_step_async(options, step, argument)
    return result


def current_step() -> tuple[str, int] | None:
    """(workflow id, step id) while a workflow step runs in this task, else None. The step id is
    its position in its workflow: the same when the step is run again after a crash."""
    workflow_id, step_id = DBOS.workflow_id, DBOS.step_id
    if workflow_id is None or step_id is None:
        return None
    return workflow_id, step_id


def current_workflow_id() -> str | None:
    return DBOS.workflow_id


# Raised inside a workflow that was cancelled; it must propagate (a BaseException).
WorkflowCancelled = dbos_error.DBOSWorkflowCancelledError


def retries_exhausted(error: BaseException) -> BaseException | None:
    """For a step that failed on each of its retries, the last failure (else None)."""
    if isinstance(error, dbos_error.DBOSMaxStepRetriesExceeded):
        return error.errors[-1] if error.errors else error
    return None


def is_engine_signal(error: BaseException) -> bool:
    """Errors of the engine itself (cancellation, fencing, ...): never a workflow's failure."""
    return isinstance(error, dbos_error.DBOSException | dbos_error.DBOSBaseException)


def queue_names(settings: Settings) -> dict[str, str]:
    return {
        WORK: settings.workflow_queue,
        WEBHOOKS: f"{settings.workflow_queue}-webhooks",
        SCHEDULES: SCHEDULES_QUEUE,
    }


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
    global _guard, _slots
    url = system_database_url(settings)
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": url,
        "dbos_system_schema": SYSTEM_SCHEMA,
        # DBOS narrates every migration and queue at INFO; keep it to warnings unless debugging.
        "log_level": "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING",
        "notification_listener_polling_interval_sec": NOTIFICATION_POLLING_SECONDS,
    }
    identity = _executor_id_for(settings)
    if identity:
        config["executor_id"] = identity
    config["application_version"] = application_version()
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
    job_lock.install()
    DBOS.launch()
    polling = SQLITE_QUEUE_POLLING_SECONDS if _is_sqlite(url) else QUEUE_POLLING_SECONDS
    concurrency = {
        WORK: settings.workflow_concurrency,
        WEBHOOKS: settings.webhook_concurrency,
        SCHEDULES: 1,
    }
    for kind, name in names.items():
        every = polling
        if kind == SCHEDULES and _is_sqlite(url):
            every = SQLITE_SCHEDULES_POLLING_SECONDS
        _queues[kind] = await DBOS.register_queue_async(
            name, worker_concurrency=concurrency[kind], polling_interval_sec=every
        )
    await _apply_schedules(settings)
    _slots = _Slots(concurrency) if listen else None
    if _guard is not None:
        _guard.start(DBOS.application_version)


async def _apply_schedules(settings: Settings) -> None:
    """Create or update (or, when off, delete) the registered schedules: every process does it
    at launch, with the same settings, so a cluster agrees."""
    wanted: list[ScheduleInput] = []
    for name, crontab in _schedules.items():
        cron = crontab(settings)
        if cron is None:
            await DBOS.delete_schedule_async(name)
            continue
        wanted.append(
            {
                "schedule_name": name,
                "workflow_fn": _workflows[name],
                "schedule": cron,
                "queue_name": SCHEDULES_QUEUE,
            }
        )
    if wanted:
        await DBOS.apply_schedules_async(wanted)


async def schedule_of(name: str) -> str | None:
    """The crontab the system database holds for the schedule `name` (None: not scheduled)."""
    schedule = await DBOS.get_schedule_async(name)
    return None if schedule is None else str(schedule["schedule"])


def shutdown(timeout_seconds: int = 5) -> None:
    """Stop taking work, give running workflows a moment, then release our executor lock: what
    is still unfinished is taken over by a live process."""
    global _guard, _slots
    _queues.clear()
    _slots = None
    DBOS.destroy(workflow_completion_timeout_sec=timeout_seconds)
    if _guard is not None:
        _guard.stop()
        _guard = None


def is_running() -> bool:
    return bool(_queues)


def executor_id() -> str:
    """The id this process's workflows are recorded under (for logs)."""
    return str(DBOS.executor_id)


async def enqueue(
    name: str, workflow_id: str, *args: Any, queue: str = WORK, delay: float = 0.0
) -> None:
    """Hand the workflow `name` with `args` to the engine under `workflow_id`, for `queue`
    (WORK or WEBHOOKS), to start no sooner than `delay` seconds from now; an id the engine
    already knows is left alone.

    A process that listens on the queues starts its own work at once (`_start_here`) while it
    runs fewer than the queue's concurrency of such workflows; the rest (a delay, a full bound,
    a call from inside a workflow, a process that only enqueues) goes on the queue."""
    if not _queues:
        raise RuntimeError("the workflow engine is not running in this process")
    if delay <= 0 and await _start_here(name, workflow_id, args, queue):
        return
    with (
        SetWorkflowID(workflow_id),
        SetEnqueueOptions(delay_seconds=delay) if delay > 0 else nullcontext(),
    ):
        await _queues[queue].enqueue_async(_workflows[name], *args)


async def _start_here(name: str, workflow_id: str, args: tuple[Any, ...], queue: str) -> bool:
    """Start the workflow in this process now, if this process listens, has a free slot, is
    not inside a workflow (a child is recorded as its parent's step: keep that on the queue) and
    the engine does not know the id yet. DBOS.start_workflow_async writes the same durable
    PENDING record under the same id as a dequeued start; after a crash DBOS recovery puts it on
    its internal queue, which every process of the application serves.
    Returns False, having started nothing, when the queue must take it."""
    slots = _slots
    if slots is None or DBOS.workflow_id is not None or not slots.take(queue):
        return False
    try:
        if await DBOS.get_workflow_status_async(workflow_id) is not None:
            slots.release(queue)  # enqueued before, or done: the queue's no-op answers it
            return False
        with SetWorkflowID(workflow_id):
            handle = await DBOS.start_workflow_async(_workflows[name], *args)
    except BaseException:
        slots.release(queue)
        raise
    watcher = asyncio.create_task(_release_when_finished(slots, queue, handle))
    slots.watchers.add(watcher)
    watcher.add_done_callback(slots.watchers.discard)
    return True


async def _release_when_finished(
    slots: _Slots, queue: str, handle: WorkflowHandleAsync[None]
) -> None:
    try:
        await handle.get_result()
    except (Exception, dbos_error.DBOSBaseException):  # how it ended is the workflow's business
        pass
    finally:
        slots.release(queue)


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
    """Put a dead executor's unfinished workflows back on their queues (DBOS recovery).

    DBOS 3.4 has no public call for this: it recovers only its own executor id at launch (or
    through its commercial Conductor service). `_recover_pending_workflows` is the function its
    launch calls; tests/ops/test_crash_safety.py proves it still does what takeover.py needs."""
    return len(DBOS._recover_pending_workflows([dead_executor_id]))


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"
