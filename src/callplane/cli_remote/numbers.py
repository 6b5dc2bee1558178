"""`callplane numbers …`: the organization's phone numbers and their slots."""

from __future__ import annotations

from typing import Annotated

import typer

from callplane.cli_remote._common import Limit, Output, given, group, remote, take
from callplane.client import Client

app = group("Phone numbers: register, label, list who answers them.")

NUMBER_COLUMNS = [
    "phone_number",
    "label",
    "inbound_agent_id",
    "inbound_version",
    "outbound_version",
]
Number = Annotated[str, typer.Argument(help="Phone number, E.164 (+14155551234).")]


@app.command("list")
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
    out.table(take(numbers, limit), NUMBER_COLUMNS)


@app.command("get")
@remote
def numbers_get(client: Client, out: Output, number: Number) -> None:
    """One phone number and its slots."""
    out.record(client.phone_numbers.get(number), [*NUMBER_COLUMNS, "outbound_agent_id"])


@app.command("register")
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
    out.record(created, [*NUMBER_COLUMNS, "outbound_shareable"])


@app.command("update")
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
    changes = given(label=label, outbound_shareable=outbound_shareable)
    updated = client.phone_numbers.update(number, **changes)
    out.record(updated, [*NUMBER_COLUMNS, "outbound_shareable"])


@app.command("delete")
@remote
def numbers_delete(client: Client, out: Output, number: Number) -> None:
    """Remove a number from the registry (refused while assigned)."""
    client.phone_numbers.delete(number)
    out.done({"deleted": number}, f"deleted {number}")
