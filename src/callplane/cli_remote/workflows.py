"""`callplane workflows list|get|wait|cancel`: background work and how it went."""

from __future__ import annotations

from typing import Annotated

import typer

from callplane.cli_remote._common import Limit, Output, group, remote, take
from callplane.cli_remote._progress import (
    WORKFLOW_COLUMNS,
    Timeout,
    follow,
    workflow_human,
    workflow_row,
)
from callplane.client import Client

app = group("Background workflows: list, inspect, wait for (with live progress), cancel.")

WorkflowId = Annotated[str, typer.Argument(help="Workflow id (from the command that started it).")]


@app.command("list")
@remote
def workflows_list(
    client: Client,
    out: Output,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="generate_instructions, create_from_website, create_demo, knowledge_crawl or "
            "knowledge_refresh.",
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="queued, running, succeeded, failed or cancelled."),
    ] = None,
    limit: Limit = 20,
) -> None:
    """The organization's workflows, newest first."""
    runs = take(client.workflows.list(type=type_, status=status, limit=limit), limit)
    if out.as_json:
        out.table(runs, WORKFLOW_COLUMNS)
    else:
        out.table([workflow_row(run) for run in runs], WORKFLOW_COLUMNS)


@app.command("get")
@remote
def workflows_get(client: Client, out: Output, workflow_id: WorkflowId) -> None:
    """A workflow run: status, progress, result or error."""
    run = client.workflows.get(workflow_id)
    out.value(run, lambda: workflow_human(run))


@app.command("wait")
@remote
def workflows_wait(
    client: Client, out: Output, workflow_id: WorkflowId, timeout: Timeout = 300.0
) -> None:
    """Wait until the run finishes, showing its steps live (on stderr); exit 1 if it failed or
    was cancelled, 6 on timeout."""
    follow(client, out, workflow_id, timeout)


@app.command("cancel")
@remote
def workflows_cancel(client: Client, out: Output, workflow_id: WorkflowId) -> None:
    """Cancel a queued or running workflow (its current step finishes; no further step runs)."""
    run = client.workflows.cancel(workflow_id)
    out.value(run, lambda: workflow_human(run))
