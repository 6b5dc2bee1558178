"""`callplane agents …`: agents, building one from a website, demos and rollback."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from callplane.cli_remote._common import (
    AgentId,
    Limit,
    Output,
    fields,
    given,
    group,
    json_object,
    present,
    remote,
    table,
    take,
)
from callplane.cli_remote._progress import Timeout, Wait, started
from callplane.client import Client
from callplane.publishing.schemas import RollbackRead

app = group("Agents: list, create, change, build from a website, roll back.")

AGENT_COLUMNS = ["id", "name", "active", "is_demo", "live_version", "updated_at"]


@app.command("list")
@remote
def agents_list(
    client: Client,
    out: Output,
    name: Annotated[str | None, typer.Option("--name", help="Name contains (any case).")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    limit: Limit = 100,
) -> None:
    """Agents, newest first."""
    out.table(take(client.agents.list(name=name, active=active, limit=limit), limit), AGENT_COLUMNS)


@app.command("get")
@remote
def agents_get(client: Client, out: Output, agent_id: AgentId) -> None:
    """One agent with its versions, numbers and SIP endpoint."""
    agent = client.agents.get(agent_id)

    def human() -> RenderableType:
        shown = {name: getattr(agent, name) for name in [*AGENT_COLUMNS, "description", "etag"]}
        shown["sip_uri"] = agent.sip_endpoint.sip_uri
        shown["versions"] = [
            f"{v.version}{' (published)' if v.published else ''}" for v in agent.versions
        ]
        shown["phone_numbers"] = [n.phone_number for n in agent.phone_numbers]
        return fields(shown, list(shown))

    out.value(agent, human)


@app.command("create")
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
        metadata=json_object(metadata, "--metadata"),
    )
    out.record(agent, [*AGENT_COLUMNS, "etag"])


@app.command("update")
@remote
def agents_update(
    client: Client,
    out: Output,
    agent_id: AgentId,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="Replaces it.")] = None,
    if_match: Annotated[str | None, typer.Option("--if-match", help="Expected ETag.")] = None,
) -> None:
    """Change an agent's fields (the ones given)."""
    changes = given(
        name=name,
        description=description,
        active=active,
        metadata=json_object(metadata, "--metadata"),
    )
    agent = client.agents.update(agent_id, if_match=if_match, **changes)
    out.record(agent, [*AGENT_COLUMNS, "etag"])


@app.command("delete")
@remote
def agents_delete(client: Client, out: Output, agent_id: AgentId) -> None:
    """Delete an agent (its versions, widgets and SIP endpoint go with it)."""
    client.agents.delete(agent_id)
    out.done({"deleted": agent_id}, f"deleted agent {agent_id}")


@app.command("create-from-website")
@remote
def agents_create_from_website(
    client: Client,
    out: Output,
    website: Annotated[str, typer.Argument(help="The site to crawl, e.g. https://acme.example")],
    company_name: Annotated[str, typer.Option("--company-name", help="The business's name.")],
    overview: Annotated[
        str | None, typer.Option("--overview", help="A few lines about the company.")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Mark the agent as a demo.")] = False,
    skip_deployment: Annotated[
        bool,
        typer.Option("--skip-deployment", help="Leave a draft: no publish, SIP or widget."),
    ] = False,
    voice: Annotated[str | None, typer.Option("--voice", help="Voice id.")] = None,
    avatar_url: Annotated[str | None, typer.Option("--avatar-url", help="For the widget.")] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", help="Add a new version to this agent instead of creating one."),
    ] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", help="Add the pages to this collection.")
    ] = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> None:
    """Build an agent from a company website in the background (crawl, knowledge, instructions,
    publish, SIP, widget); --wait shows each step as it runs."""
    workflow_id = client.agents.create_from_website(
        company_website=website,
        company_name=company_name,
        **present(
            company_overview=overview,
            is_demo=demo or None,
            skip_deployment=skip_deployment or None,
            voice_id=voice,
            avatar_url=avatar_url,
            existing_agent_id=agent,
            existing_collection_id=collection,
        ),
    )
    started(client, out, workflow_id, wait=wait, timeout=timeout)


@app.command("create-demo")
@remote
def agents_create_demo(
    client: Client,
    out: Output,
    website: Annotated[str, typer.Argument(help="The site to crawl, e.g. https://acme.example")],
    instructions: Annotated[
        str | None, typer.Option("--instructions", help="Added to the generated instructions.")
    ] = None,
    phone_number: Annotated[
        bool,
        typer.Option("--phone-number", help="Assign a free number of the organization."),
    ] = False,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> None:
    """Build and deploy a demo agent from a website in the background."""
    workflow_id = client.agents.create_demo(
        company_website=website,
        **present(instructions=instructions, include_phone_number=phone_number or None),
    )
    started(client, out, workflow_id, wait=wait, timeout=timeout)


@app.command("rollback")
@remote
def agents_rollback(
    client: Client,
    out: Output,
    agent_id: AgentId,
    to_version: Annotated[
        int, typer.Option("--to-version", "--to", min=1, help="The version to make live again.")
    ],
) -> None:
    """Make an earlier version live again: it is published and every number slot holding one
    of this agent's versions moves to it, in one transaction."""
    answer = client.agents.rollback(agent_id, to_version=to_version)
    out.value(answer, lambda: _rollback_human(agent_id, answer))


def _rollback_human(agent_id: str, answer: RollbackRead) -> RenderableType:
    """The version now live, and every slot the rollback moved onto it."""
    headline = Text(f"agent {agent_id}: version {answer.version} is live")
    if not answer.changed:
        return headline
    rows = [change.model_dump(mode="json") for change in answer.changed]
    return Group(headline, table(rows, ["phone_number", "direction", "from_version", "to_version"]))
