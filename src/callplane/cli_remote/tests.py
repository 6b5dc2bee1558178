"""`callplane test AGENT [--version N] [--test NAME…] [--json]`: run an agent's tests, fit for CI.

Shows each test as it finishes (on stderr), then a table (or the run as JSON with --json), and
exits 1 when a test failed or errored (0 when all passed or were skipped), 6 on timeout.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from callplane.agenttests.schemas import TestRunRead
from callplane.cli_remote._common import (
    EXIT_API_ERROR,
    EXIT_TIMEOUT,
    AgentId,
    Output,
    fail,
    remote,
)
from callplane.client import Client

MARKS = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "-"}
COLUMNS = ("name", "status", "reason", "seconds")


def newest_version(client: Client, agent_id: str) -> int:
    for version in client.agents.versions.list(agent_id, limit=1):
        return version.version
    raise fail(EXIT_API_ERROR, "version_not_found: the agent has no versions")


def _rows(run: TestRunRead) -> list[dict[str, object]]:
    return [
        {
            "name": result.name,
            "status": result.status,
            "reason": result.reason,
            "seconds": round(result.duration_seconds, 2),
        }
        for result in run.results or []
    ]


@remote
def test_command(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Version to test (default: the newest, drafts too)."),
    ] = None,
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Run only this test (repeatable).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Give up waiting after this many seconds.")
    ] = 600.0,
) -> None:
    """Run the agent's tests against a version and report them; exit 1 when any fails."""
    number = version if version is not None else newest_version(client, agent_id)
    run = client.test_runs.start(agent_id, number, tests=test or None)
    typer.echo(f"test run {run.id}: {run.tests} test(s) against version {number}", err=True)
    shown: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        run = client.test_runs.get(run.id)
        for result in run.results or []:
            if result.name not in shown:
                shown.add(result.name)
                why = f": {result.reason}" if result.reason and result.status != "passed" else ""
                typer.echo(f"{MARKS[result.status]} {result.name} ({result.status}){why}", err=True)
        if run.status not in ("queued", "running"):
            break
        if time.monotonic() >= deadline:
            raise fail(EXIT_TIMEOUT, f"timeout: test run {run.id} still {run.status}")
        time.sleep(0.5)
    if out.as_json:
        out.value(run, lambda: "")
    else:
        out.table(_rows(run), COLUMNS)
        typer.echo(
            f"{run.status}: {run.passed} passed, {run.failed} failed, {run.errors} errors, "
            f"{run.skipped} skipped (run {run.id}, version {run.version} revision {run.revision})"
        )
    if run.status != "passed":
        raise typer.Exit(EXIT_API_ERROR)
