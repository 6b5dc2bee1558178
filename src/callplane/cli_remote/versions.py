"""`callplane versions …`: an agent's versions: drafts, publishing, comparing, instructions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from callplane.cli_remote._common import (
    AgentId,
    IfMatch,
    Limit,
    Output,
    VersionArg,
    fields,
    group,
    json_file,
    remote,
    table,
    take,
    version_ref,
)
from callplane.cli_remote._progress import Timeout, Wait, started
from callplane.cli_remote.numbers import NUMBER_COLUMNS
from callplane.client import Client
from callplane.versions.schemas import VersionRead

app = group("Agent versions: drafts, publish, compare, generate instructions.")

VERSION_COLUMNS = [
    "version",
    "published",
    "instructions_status",
    "instructions_dirty",
    "updated_at",
]
VersionNumber = Annotated[int, typer.Argument(min=1, help="Version number.")]


def _version_human(version: VersionRead) -> RenderableType:
    instructions = str(version.config.get("instructions") or "")
    shown: dict[str, Any] = {name: getattr(version, name) for name in VERSION_COLUMNS}
    shown |= {"id": version.id, "etag": version.etag}
    shown["instructions"] = instructions[:200] + ("…" if len(instructions) > 200 else "")
    return fields(shown, list(shown))


@app.command("list")
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
    out.table(take(versions, limit), VERSION_COLUMNS)


@app.command("get")
@remote
def versions_get(client: Client, out: Output, agent_id: AgentId, version: VersionArg) -> None:
    """One version (`latest`: the newest draft, created if the newest is published)."""
    found = client.agents.versions.get(agent_id, version_ref(version))
    out.value(found, lambda: _version_human(found))


@app.command("create")
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
        config=json_file(config, "--config"),
        base_version=base_version,
        instruction_builder_inputs=json_file(inputs, "--inputs"),
    )
    out.value(created, lambda: _version_human(created))


@app.command("update")
@remote
def versions_update(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: VersionNumber,
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
    kwargs: dict[str, Any] = {"config": json_file(config, "--config"), "if_match": if_match}
    if inputs is not None:
        kwargs["instruction_builder_inputs"] = json_file(inputs, "--inputs")
    updated = client.agents.versions.update(agent_id, version, **kwargs)
    out.value(updated, lambda: _version_human(updated))


@app.command("publish")
@remote
def versions_publish(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: VersionNumber,
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

    def human() -> RenderableType:
        headline = Text(f"published version {version} of agent {agent_id}")
        return Group(headline, table(touched, NUMBER_COLUMNS)) if touched else headline

    out.value(touched, human)


@app.command("generate-instructions")
@remote
def versions_generate_instructions(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: VersionNumber,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> None:
    """Write a draft's instructions from its builder inputs, in the background."""
    workflow_id = client.agents.versions.generate_instructions(agent_id, version)
    started(client, out, workflow_id, wait=wait, timeout=timeout)


@app.command("compare")
@remote
def versions_compare(
    client: Client, out: Output, agent_id: AgentId, from_version: VersionArg, to_version: VersionArg
) -> None:
    """A plain-language summary of the changes, printed as the server writes it."""
    chunks = client.agents.versions.compare(
        agent_id, version_ref(from_version), version_ref(to_version)
    )
    if out.as_json:
        out.value({"summary": "".join(chunks)}, Text)
        return
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()
    sys.stdout.write("\n")


@app.command("diff")
@remote
def versions_diff(
    client: Client, out: Output, agent_id: AgentId, from_version: VersionArg, to_version: VersionArg
) -> None:
    """The structured differences between two versions' configs."""
    diff = client.agents.versions.diff(agent_id, version_ref(from_version), version_ref(to_version))

    def human() -> RenderableType:
        headline = Text(f"version {diff['from_version']} → {diff['to_version']}")
        if not diff["changes"]:
            return Group(headline, Text("  no changes"))
        rows = [
            {
                "op": change["op"],
                "path": change["path"],
                "before": json.dumps(change["before"], ensure_ascii=False),
                "after": json.dumps(change["after"], ensure_ascii=False),
            }
            for change in diff["changes"]
        ]
        return Group(headline, table(rows, ["op", "path", "before", "after"]))

    out.value(diff, human)
