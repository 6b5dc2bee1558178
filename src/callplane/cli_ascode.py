"""`callplane plan|apply|export`: agents as code against a running server (docs/agents-as-code.md).

Exit codes: 0 done / nothing to change, 1 the server refused or could not be reached, 2 a usage or
file error (nothing was changed), 10 (`plan` only) changes are pending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from callplane.ascode.model import FileError
from callplane.ascode.plan import PlanError
from callplane.cli_remote import _common as cli_common
from callplane.cli_remote._common import EXIT_USAGE, NO_KEY, fail

if TYPE_CHECKING:
    from callplane.ascode.backend import SdkBackend

EXIT_ERROR = 1
EXIT_PENDING = 10

T = TypeVar("T")

UrlOption = Annotated[
    str | None, typer.Option("--url", envvar="CALLPLANE_URL", help="Server base URL.")
]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="CALLPLANE_API_KEY", help="ak_ key, or pat_ with --org."),
]
OrgOption = Annotated[
    str | None,
    typer.Option("--org", envvar="CALLPLANE_ORG", help="Organization id (needed for pat_)."),
]
FileOption = Annotated[
    Path, typer.Option("--file", "-f", help="The agents file (YAML).", dir_okay=False)
]


@contextmanager
def _backend(url: str | None, api_key: str | None, org: str | None) -> Iterator[SdkBackend]:
    from callplane.ascode.backend import SdkBackend
    from callplane.client import MissingApiKey

    try:
        client = cli_common.connect(url, api_key, org)
    except MissingApiKey:
        raise fail(EXIT_USAGE, f"error: {NO_KEY}") from None
    with client:
        yield SdkBackend(client)


def _guarded(work: Callable[[], T]) -> T:
    """Run `work`, turning file/plan problems into exit 2 and API errors into exit 1."""
    from callplane.client import CallplaneError

    try:
        return work()
    except (FileError, PlanError) as exc:
        raise fail(EXIT_USAGE, f"error: {exc}") from None
    except CallplaneError as exc:
        if exc.status is None:  # no answer at all, after the SDK's retries
            raise fail(EXIT_ERROR, f"error: cannot reach the server: {exc.detail}") from None
        request = f" (request id {exc.request_id})" if exc.request_id else ""
        raise fail(EXIT_ERROR, f"error: the server refused: {exc}{request}") from None


def plan(
    file: FileOption,
    url: UrlOption = None,
    api_key: KeyOption = None,
    org: OrgOption = None,
) -> None:
    """Show what `apply` would change; change nothing. Exit 0: nothing to do, 10: changes."""
    from callplane.ascode.apply import plan_file
    from callplane.ascode.plan import render_plan

    with _backend(url, api_key, org) as backend:
        computed = _guarded(lambda: plan_file(file, backend))
    typer.echo(render_plan(computed))
    if computed.has_changes:
        raise typer.Exit(EXIT_PENDING)


def apply(
    file: FileOption,
    test: Annotated[
        bool,
        typer.Option(
            "--test",
            help="Run each new version's tests against it (a draft) before publishing it; "
            "stop at the first failure (exit 1).",
        ),
    ] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    org: OrgOption = None,
) -> None:
    """Make the server match the file (creates, updates, publishes; never deletes agents)."""
    from callplane.ascode.apply import TestsFailed, apply_plan, plan_file
    from callplane.ascode.plan import render_plan

    with _backend(url, api_key, org) as backend:
        computed = _guarded(lambda: plan_file(file, backend))
        typer.echo(render_plan(computed))
        if not computed.has_changes:
            return
        typer.echo("\nApplying:")
        try:
            _guarded(
                lambda: apply_plan(
                    computed, backend, log=lambda line: typer.echo(f"  {line}"), run_tests=test
                )
            )
        except TestsFailed as failed:
            typer.echo(str(failed), err=True)
            typer.echo(
                "apply stopped: the steps above are done (the draft stays unpublished), the "
                "rest are not; fix the agent or its tests and run apply again",
                err=True,
            )
            raise typer.Exit(EXIT_ERROR) from None
        except typer.Exit:
            typer.echo(
                "apply stopped: the steps above are done, the rest are not; "
                "fix the cause and run apply again",
                err=True,
            )
            raise
    typer.echo("Apply complete.")


def export(
    agent_id: Annotated[str, typer.Argument(help="The agent to export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    no_numbers: Annotated[
        bool,
        typer.Option("--no-numbers", help="Leave phone numbers out (to apply elsewhere)."),
    ] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    org: OrgOption = None,
) -> None:
    """Write the agents file declaring an existing agent (its live config, numbers and SIP)."""
    from callplane.ascode.export import export_agents

    with _backend(url, api_key, org) as backend:
        text = _guarded(lambda: export_agents(backend, [agent_id], with_numbers=not no_numbers))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add `plan`, `apply` and `export` to the `callplane` command."""
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("export")(export)
