"""`callplane agents|versions|numbers|workflows …`: the API from a shell, through the SDK.

Every command takes --url/--api-key/--org (or CALLPLANE_URL/CALLPLANE_API_KEY/CALLPLANE_ORG) and
--json. Exit codes: 0 ok, 1 API error, 2 usage error, 3 not found, 4 conflict (409/412),
5 server unreachable, 6 `workflows wait` timed out.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel

from callplane.client import (
    CallplaneError,
    Client,
    Conflict,
    ConnectionFailed,
    NotFound,
    PreconditionFailed,
)

EXIT_API_ERROR = 1
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNREACHABLE = 5
EXIT_TIMEOUT = 6

agents_app = typer.Typer(help="Agents (through the API).", no_args_is_help=True)
versions_app = typer.Typer(help="Agent versions (through the API).", no_args_is_help=True)
numbers_app = typer.Typer(help="Phone numbers (through the API).", no_args_is_help=True)
workflows_app = typer.Typer(help="Background workflows (through the API).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(agents_app, name="agents")
    app.add_typer(versions_app, name="versions")
    app.add_typer(numbers_app, name="numbers")
    app.add_typer(workflows_app, name="workflows")


class Output:
    """Human tables on stdout by default; with --json, machine-readable JSON."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def value(self, value: Any, human: Callable[[], str]) -> None:
        typer.echo(json.dumps(_jsonable(value), indent=2) if self.as_json else human())

    def table(self, rows: Iterable[BaseModel], columns: Sequence[str]) -> None:
        rows = list(rows)
        if self.as_json:
            typer.echo(json.dumps(_jsonable(rows), indent=2))
            return
        cells = [[_cell(getattr(row, column)) for column in columns] for row in rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        for line in [list(columns), *cells]:
            padded = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            typer.echo("  ".join(padded).rstrip())


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return str(value.isoformat(timespec="seconds"))
    return str(value)


def _fields(model: BaseModel, names: Sequence[str]) -> str:
    return "\n".join(f"{name + ':':<30} {_cell(getattr(model, name))}" for name in names)


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _exit_code(error: CallplaneError) -> int:
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, Conflict | PreconditionFailed):
        return EXIT_CONFLICT
    if isinstance(error, ConnectionFailed):
        return EXIT_UNREACHABLE
    return EXIT_API_ERROR


def _describe(error: CallplaneError) -> str:
    detail = error.detail
    if isinstance(detail, list):  # FastAPI's 422 list
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}" for item in detail
        )
    return f"{error.code}: {detail}"


_COMMON = [
    inspect.Parameter(
        "url",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None, typer.Option("--url", envvar="CALLPLANE_URL", help="API base URL.")
        ],
    ),
    inspect.Parameter(
        "api_key",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option("--api-key", envvar="CALLPLANE_API_KEY", help="ak_… key or pat_… token."),
        ],
    ),
    inspect.Parameter(
        "org",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option("--org", envvar="CALLPLANE_ORG", help="Organization id (for pat_…)."),
        ],
    ),
    inspect.Parameter(
        "as_json",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")],
    ),
]


def remote(func: Callable[..., None]) -> Callable[..., None]:
    """Give a command the connection options, a `Client` and an `Output`; API errors become
    `code: detail` on stderr and the documented exit code."""

    @functools.wraps(func)
    def command(
        *args: Any, url: str | None, api_key: str | None, org: str | None, as_json: bool, **kw: Any
    ) -> None:
        try:
            with Client(url, api_key, org) as client:
                func(client, Output(as_json), *args, **kw)
        except CallplaneError as error:
            raise _fail(_exit_code(error), _describe(error)) from None

    own = inspect.signature(func, eval_str=True).parameters.values()
    parameters = [p for p in own if p.name not in ("client", "out")] + _COMMON
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return command


def _version_ref(raw: str) -> int | Literal["latest"]:
    if raw == "latest":
        return "latest"
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if number < 1:
        raise typer.BadParameter(f"a version is a number ≥ 1 or `latest`, not {raw!r}")
    return number


def _json_object(raw: str | None, what: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise typer.BadParameter(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{what} must be a JSON object")
    return value


def _json_file(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {what} {path}: {exc.strerror}") from None
    return _json_object(text, f"{what} {path}")


AgentId = Annotated[str, typer.Argument(help="Agent id.")]
VersionArg = Annotated[str, typer.Argument(help="Version number or `latest`.")]
Number = Annotated[str, typer.Argument(help="Phone number, E.164 (+14155551234).")]
IfMatch = Annotated[str | None, typer.Option("--if-match", help="Expected ETag (else 412).")]
Limit = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")]

AGENT_COLUMNS = ["id", "name", "active", "is_demo", "live_version", "updated_at"]
VERSION_COLUMNS = [
    "version",
    "published",
    "instructions_status",
    "instructions_dirty",
    "updated_at",
]
NUMBER_COLUMNS = [
    "phone_number",
    "label",
    "inbound_agent_id",
    "inbound_version",
    "outbound_version",
]
WORKFLOW_FIELDS = ["workflow_id", "type", "status", "attempts", "created_at", "finished_at"]


def _take(items: Iterable[Any], limit: int) -> list[Any]:
    taken: list[Any] = []
    for item in items:
        if len(taken) == limit:
            break
        taken.append(item)
    return taken


# Agents


@agents_app.command("list")
@remote
def agents_list(
    client: Client,
    out: Output,
    name: Annotated[str | None, typer.Option("--name", help="Name contains (any case).")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    limit: Limit = 100,
) -> None:
    """Agents, newest first."""
    out.table(
        _take(client.agents.list(name=name, active=active, limit=limit), limit), AGENT_COLUMNS
    )


@agents_app.command("get")
@remote
def agents_get(client: Client, out: Output, agent_id: AgentId) -> None:
    """One agent with its versions, numbers and SIP endpoint."""
    agent = client.agents.get(agent_id)

    def human() -> str:
        lines = [_fields(agent, [*AGENT_COLUMNS, "description", "etag"])]
        lines.append(f"{'sip_uri:':<30} {_cell(agent.sip_endpoint.sip_uri)}")
        lines += [f"version {v.version}: published={v.published}" for v in agent.versions]
        lines += [f"number {n.phone_number}" for n in agent.phone_numbers]
        return "\n".join(lines)

    out.value(agent, human)


@agents_app.command("create")
@remote
def agents_create(
    client: Client,
    out: Output,
    name: Annotated[str, typer.Option("--name")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="A JSON object.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Mark as a demo agent.")] = False,
) -> None:
    """Create an agent."""
    agent = client.agents.create(
        name=name,
        description=description,
        is_demo=demo,
        metadata=_json_object(metadata, "--metadata"),
    )
    out.value(agent, lambda: _fields(agent, [*AGENT_COLUMNS, "etag"]))


@agents_app.command("update")
@remote
def agents_update(
    client: Client,
    out: Output,
    agent_id: AgentId,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="Replaces it.")] = None,
    if_match: IfMatch = None,
) -> None:
    """Change an agent's fields (the ones given)."""
    fields: dict[str, Any] = {
        "name": name,
        "description": description,
        "active": active,
        "metadata": _json_object(metadata, "--metadata"),
    }
    given: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
    if not given:
        raise typer.BadParameter("nothing to update: give at least one field option")
    agent = client.agents.update(agent_id, if_match=if_match, **given)
    out.value(agent, lambda: _fields(agent, [*AGENT_COLUMNS, "etag"]))


@agents_app.command("delete")
@remote
def agents_delete(client: Client, out: Output, agent_id: AgentId) -> None:
    """Delete an agent (its versions, widgets and SIP endpoint go with it)."""
    client.agents.delete(agent_id)
    out.value({"deleted": agent_id}, lambda: f"deleted agent {agent_id}")


# Versions


def _version_human(version: Any) -> Callable[[], str]:
    def human() -> str:
        instructions = str(version.config.get("instructions") or "")
        excerpt = instructions[:200] + ("…" if len(instructions) > 200 else "")
        names = [*VERSION_COLUMNS, "id", "etag"]
        return _fields(version, names) + f"\n{'instructions:':<30} {excerpt or '-'}"

    return human


@versions_app.command("list")
@remote
def versions_list(
    client: Client,
    out: Output,
    agent_id: AgentId,
    published: Annotated[bool | None, typer.Option("--published/--drafts")] = None,
    limit: Limit = 100,
) -> None:
    """An agent's versions, newest first."""
    versions = client.agents.versions.list(agent_id, published=published, limit=limit)
    out.table(_take(versions, limit), VERSION_COLUMNS)


@versions_app.command("get")
@remote
def versions_get(client: Client, out: Output, agent_id: AgentId, version: VersionArg) -> None:
    """One version (`latest`: the newest draft, created if the newest is published)."""
    found = client.agents.versions.get(agent_id, _version_ref(version))
    out.value(found, _version_human(found))


@versions_app.command("create")
@remote
def versions_create(
    client: Client,
    out: Output,
    agent_id: AgentId,
    config: Annotated[
        Path | None, typer.Option("--config", help="A JSON file holding an AgentConfig.")
    ] = None,
    base_version: Annotated[
        int | None, typer.Option("--base-version", min=1, help="Copy this version.")
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="A JSON file: instruction_builder_inputs.")
    ] = None,
) -> None:
    """Create a draft from --config FILE or as a copy of --base-version N."""
    if (config is None) == (base_version is None):
        raise typer.BadParameter("give exactly one of --config FILE or --base-version N")
    created = client.agents.versions.create(
        agent_id,
        config=_json_file(config, "--config"),
        base_version=base_version,
        instruction_builder_inputs=_json_file(inputs, "--inputs"),
    )
    out.value(created, _version_human(created))


@versions_app.command("update")
@remote
def versions_update(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: Annotated[int, typer.Argument(min=1)],
    config: Annotated[
        Path | None, typer.Option("--config", help="A JSON AgentConfig file.")
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="A JSON file: instruction_builder_inputs.")
    ] = None,
    if_match: IfMatch = None,
) -> None:
    """Update a draft's config and/or builder inputs."""
    if config is None and inputs is None:
        raise typer.BadParameter("give --config FILE and/or --inputs FILE")
    kwargs: dict[str, Any] = {"config": _json_file(config, "--config"), "if_match": if_match}
    if inputs is not None:
        kwargs["instruction_builder_inputs"] = _json_file(inputs, "--inputs")
    updated = client.agents.versions.update(agent_id, version, **kwargs)
    out.value(updated, _version_human(updated))


@versions_app.command("publish")
@remote
def versions_publish(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: Annotated[int, typer.Argument(min=1)],
    number: Annotated[
        list[str] | None, typer.Option("--number", help="Assign this number (repeatable).")
    ] = None,
    unassign: Annotated[
        list[str] | None, typer.Option("--unassign", help="Clear this number (repeatable).")
    ] = None,
    direction: Annotated[
        str, typer.Option("--direction", help="inbound, outbound or both.")
    ] = "inbound",
) -> None:
    """Publish a version (it goes live) and assign/unassign phone numbers."""
    touched = client.agents.versions.publish(
        agent_id,
        version,
        phone_numbers=number or None,
        unassign_phone_numbers=unassign or None,
        direction=direction,
    )
    if out.as_json:
        out.table(touched, NUMBER_COLUMNS)
        return
    typer.echo(f"published version {version} of agent {agent_id}")
    if touched:
        out.table(touched, NUMBER_COLUMNS)


@versions_app.command("compare")
@remote
def versions_compare(
    client: Client, out: Output, agent_id: AgentId, from_version: VersionArg, to_version: VersionArg
) -> None:
    """A plain-language summary of the changes, printed as the server writes it."""
    chunks = client.agents.versions.compare(
        agent_id, _version_ref(from_version), _version_ref(to_version)
    )
    if out.as_json:
        out.value({"summary": "".join(chunks)}, str)
        return
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()
    sys.stdout.write("\n")


@versions_app.command("diff")
@remote
def versions_diff(
    client: Client, out: Output, agent_id: AgentId, from_version: VersionArg, to_version: VersionArg
) -> None:
    """The structured differences between two versions' configs."""
    diff = client.agents.versions.diff(
        agent_id, _version_ref(from_version), _version_ref(to_version)
    )

    def human() -> str:
        lines = [f"version {diff['from_version']} → {diff['to_version']}"]
        for change in diff["changes"]:
            before, after = json.dumps(change["before"]), json.dumps(change["after"])
            lines.append(f"  {change['op']:<8} {change['path']}: {before} → {after}")
        if not diff["changes"]:
            lines.append("  no changes")
        return "\n".join(lines)

    out.value(diff, human)


# Phone numbers


@numbers_app.command("list")
@remote
def numbers_list(
    client: Client,
    out: Output,
    agent: Annotated[str | None, typer.Option("--agent", help="Assigned to this agent.")] = None,
    assigned: Annotated[bool | None, typer.Option("--assigned/--unassigned")] = None,
    limit: Limit = 100,
) -> None:
    """The organization's phone numbers."""
    numbers = client.phone_numbers.list(agent_id=agent, assigned=assigned, limit=limit)
    out.table(_take(numbers, limit), NUMBER_COLUMNS)


@numbers_app.command("get")
@remote
def numbers_get(client: Client, out: Output, number: Number) -> None:
    """One phone number and its slots."""
    found = client.phone_numbers.get(number)
    out.value(found, lambda: _fields(found, [*NUMBER_COLUMNS, "outbound_agent_id"]))


@numbers_app.command("register")
@remote
def numbers_register(
    client: Client,
    out: Output,
    number: Number,
    label: Annotated[str | None, typer.Option("--label")] = None,
    outbound_shareable: Annotated[bool, typer.Option("--outbound-shareable")] = False,
) -> None:
    """Register a number the organization owns."""
    created = client.phone_numbers.register(
        number, label=label, outbound_shareable=outbound_shareable
    )
    out.value(created, lambda: _fields(created, [*NUMBER_COLUMNS, "outbound_shareable"]))


@numbers_app.command("update")
@remote
def numbers_update(
    client: Client,
    out: Output,
    number: Number,
    label: Annotated[str | None, typer.Option("--label")] = None,
    outbound_shareable: Annotated[
        bool | None, typer.Option("--outbound-shareable/--no-outbound-shareable")
    ] = None,
) -> None:
    """Change a number's label or outbound sharing."""
    fields: dict[str, Any] = {"label": label, "outbound_shareable": outbound_shareable}
    given: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
    if not given:
        raise typer.BadParameter("nothing to update: give --label or --[no-]outbound-shareable")
    updated = client.phone_numbers.update(number, **given)
    out.value(updated, lambda: _fields(updated, [*NUMBER_COLUMNS, "outbound_shareable"]))


@numbers_app.command("delete")
@remote
def numbers_delete(client: Client, out: Output, number: Number) -> None:
    """Remove a number from the registry (refused while assigned)."""
    client.phone_numbers.delete(number)
    out.value({"deleted": number}, lambda: f"deleted {number}")


# Workflows


def _workflow_human(run: Any) -> Callable[[], str]:
    def human() -> str:
        lines = [_fields(run, WORKFLOW_FIELDS)]
        lines.append(f"{'progress:':<30} {run.progress.message or run.progress.step or '-'}")
        if run.result is not None:
            lines.append(f"{'result:':<30} {json.dumps(run.result)}")
        if run.error is not None:
            lines.append(f"{'error:':<30} {run.error.code}: {run.error.message}")
        return "\n".join(lines)

    return human


@workflows_app.command("get")
@remote
def workflows_get(client: Client, out: Output, workflow_id: str) -> None:
    """A workflow run: status, progress, result or error."""
    run = client.workflows.get(workflow_id)
    out.value(run, _workflow_human(run))


@workflows_app.command("wait")
@remote
def workflows_wait(
    client: Client,
    out: Output,
    workflow_id: str,
    timeout: Annotated[float, typer.Option("--timeout", min=0, help="Seconds.")] = 300.0,
) -> None:
    """Wait until the run finishes; exit 1 if it failed or was cancelled, 6 on timeout."""
    try:
        run = client.workflows.wait(workflow_id, timeout=timeout)
    except TimeoutError as exc:
        raise _fail(EXIT_TIMEOUT, f"timeout: {exc}") from None
    out.value(run, _workflow_human(run))
    if run.status == "failed":
        error = run.error
        detail = f"{error.code}: {error.message}" if error else "failed: (no error recorded)"
        raise _fail(EXIT_API_ERROR, f"workflow failed: {detail}")
    if run.status != "succeeded":
        raise _fail(EXIT_API_ERROR, f"workflow {run.status}")
