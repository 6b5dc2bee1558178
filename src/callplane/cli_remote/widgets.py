"""`callplane widgets …`: web widgets that embed an agent's published version in a site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from callplane.cli_remote._common import (
    EXIT_USAGE,
    Limit,
    Output,
    fail,
    given,
    group,
    json_file,
    remote,
    take,
)
from callplane.client import Client

app = group("Web widgets: embed an agent's published version in a website.")

WIDGET_COLUMNS = ["id", "agent_id", "agent_version_id", "published", "domains", "updated_at"]
WidgetId = Annotated[str, typer.Argument(help="Widget id.")]
VersionOption = Annotated[
    int | None,
    typer.Option("--version", min=1, help="A published version number (default: the live one)."),
]
Domains = Annotated[
    list[str] | None,
    typer.Option("--domain", help="A site allowed to embed it (repeatable; none: anywhere)."),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="A JSON file: the widget's appearance.")
]


def _version_id(client: Client, agent_id: str, version: int | None) -> str:
    """The id of the agent's version `version` (default: its live one): the API takes ids."""
    if version is None:
        live = client.agents.get(agent_id).live_version
        if live is None:
            message = f"agent {agent_id} has no live version: publish one, or give --version"
            raise fail(EXIT_USAGE, message)
        version = live
    return str(client.agents.versions.get(agent_id, version).id)


@app.command("list")
@remote
def widgets_list(
    client: Client,
    out: Output,
    agent: Annotated[str | None, typer.Option("--agent", help="This agent's widgets.")] = None,
    published: Annotated[bool | None, typer.Option("--published/--unpublished")] = None,
    limit: Limit = 100,
) -> None:
    """The organization's widgets."""
    widgets = client.widgets.list(agent_id=agent, published=published, limit=limit)
    out.table(take(widgets, limit), WIDGET_COLUMNS)


@app.command("get")
@remote
def widgets_get(client: Client, out: Output, widget_id: WidgetId) -> None:
    """One widget."""
    out.record(client.widgets.get(widget_id), [*WIDGET_COLUMNS, "config"])


@app.command("create")
@remote
def widgets_create(
    client: Client,
    out: Output,
    agent_id: Annotated[str, typer.Argument(help="The agent it talks to.")],
    version: VersionOption = None,
    domain: Domains = None,
    published: Annotated[bool, typer.Option("--published", help="Serve it at once.")] = False,
    config: ConfigFile = None,
) -> None:
    """Create a widget for an agent's published version."""
    widget = client.widgets.create(
        agent_id=agent_id,
        agent_version_id=_version_id(client, agent_id, version),
        domains=domain or [],
        published=published,
        config=json_file(config, "--config") or {},
    )
    out.record(widget, [*WIDGET_COLUMNS, "config"])


@app.command("update")
@remote
def widgets_update(
    client: Client,
    out: Output,
    widget_id: WidgetId,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Move it to this published version.")
    ] = None,
    domain: Domains = None,
    published: Annotated[bool | None, typer.Option("--published/--unpublished")] = None,
    config: ConfigFile = None,
) -> None:
    """Change a widget (the options given; --domain replaces the list)."""
    changes = given(version=version, domain=domain or None, published=published, config=config)
    fields: dict[str, Any] = {}
    if "version" in changes:
        agent_id = str(client.widgets.get(widget_id).agent_id)
        fields["agent_version_id"] = _version_id(client, agent_id, version)
    if "domain" in changes:
        fields["domains"] = domain
    if "published" in changes:
        fields["published"] = published
    if "config" in changes:
        fields["config"] = json_file(config, "--config")
    out.record(client.widgets.update(widget_id, **fields), [*WIDGET_COLUMNS, "config"])


@app.command("delete")
@remote
def widgets_delete(client: Client, out: Output, widget_id: WidgetId) -> None:
    """Delete a widget (sites embedding it stop working)."""
    client.widgets.delete(widget_id)
    out.done({"deleted": widget_id}, f"deleted widget {widget_id}")
