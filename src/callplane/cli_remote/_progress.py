"""Waiting for a workflow while showing its steps: a live progress bar on a terminal, one plain
line per change otherwise (CI logs). Progress goes to stderr, so stdout keeps only the result
(and `--json` stays parseable)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from callplane.cli_remote._common import (
    EXIT_API_ERROR,
    EXIT_TIMEOUT,
    Output,
    fail,
    fields,
)
from callplane.client import Client
from callplane.workflows.schemas import WorkflowRead

WORKFLOW_FIELDS = ["workflow_id", "type", "status", "attempts", "created_at", "finished_at"]
WORKFLOW_COLUMNS = ["workflow_id", "type", "status", "step", "created_at", "finished_at"]

Wait = Annotated[
    bool, typer.Option("--wait", help="Wait for the workflow, showing its steps as they run.")
]
Timeout = Annotated[float, typer.Option("--timeout", min=0, help="Seconds to wait (exit 6 after).")]


def progress_line(run: WorkflowRead) -> str:
    """`[2/5] running: Writing the agent's instructions`."""
    progress = run.progress
    counts = f"[{progress.completed_steps}/{progress.total_steps}]"
    what = progress.message or progress.step
    return f"{counts} {run.status}: {what}" if what else f"{counts} {run.status}"


@contextmanager
def _reporter() -> Iterator[Callable[[WorkflowRead], None]]:
    console = Console(file=sys.stderr, highlight=False)
    if not console.is_terminal:
        yield lambda run: typer.echo(progress_line(run), err=True)
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with bar:
        task = bar.add_task("queued", total=None)

        def update(run: WorkflowRead) -> None:
            progress = run.progress
            bar.update(
                task,
                description=progress.message or progress.step or run.status,
                completed=progress.completed_steps,
                total=progress.total_steps or None,
            )

        yield update


def follow(client: Client, out: Output, workflow_id: str, timeout: float) -> None:
    """Wait for the run showing its steps, print it, and exit 1 unless it succeeded (6 on
    timeout)."""
    try:
        with _reporter() as report:
            run = client.workflows.wait(workflow_id, timeout=timeout, on_progress=report)
    except TimeoutError as exc:
        raise fail(EXIT_TIMEOUT, f"timeout: {exc}") from None
    out.value(run, lambda: workflow_human(run))
    if run.status == "failed":
        error = run.error
        detail = f"{error.code}: {error.message}" if error else "failed: (no error recorded)"
        raise fail(EXIT_API_ERROR, f"workflow failed: {detail}")
    if run.status != "succeeded":
        raise fail(EXIT_API_ERROR, f"workflow {run.status}")


def started(client: Client, out: Output, workflow_id: str, *, wait: bool, timeout: float) -> None:
    """What a command that starts a workflow prints: its id, or (with --wait) how it ended."""
    if wait:
        follow(client, out, workflow_id, timeout)
        return
    out.value(
        {"workflow_id": workflow_id},
        lambda: Text(
            f"workflow {workflow_id} started; follow it with: "
            f"callplane workflows wait {workflow_id}"
        ),
    )


def workflow_human(run: WorkflowRead) -> RenderableType:
    shown = {name: getattr(run, name) for name in WORKFLOW_FIELDS}
    shown["progress"] = run.progress.message or run.progress.step
    if run.result is not None:
        shown["result"] = json.dumps(run.result)
    if run.error is not None:
        shown["error"] = f"{run.error.code}: {run.error.message}"
    return fields(shown, list(shown))


def workflow_row(run: WorkflowRead) -> dict[str, object]:
    """A run as a table row: its fields and where it is (`[2/5] running: …`)."""
    return {**{name: getattr(run, name) for name in WORKFLOW_FIELDS}, "step": progress_line(run)}
