"""`callplane audit list`: who changed what, and when."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from callplane.cli_remote._common import Limit, Output, Since, Until, group, remote, take
from callplane.client import Client

app = group("The audit log: every write in the organization.")

AUDIT_COLUMNS = ["created_at", "action", "resource_type", "resource_id", "actor", "changes"]


@app.command("list")
@remote
def audit_list(
    client: Client,
    out: Output,
    action: Annotated[
        str | None, typer.Option("--action", help="e.g. agent.version.published")
    ] = None,
    resource_type: Annotated[str | None, typer.Option("--resource-type")] = None,
    resource_id: Annotated[
        str | None, typer.Option("--resource-id", help="An agent id, an E.164 number…")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="API key id, user id or workflow id.")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 20,
) -> None:
    """Audit events, newest first."""
    events = take(
        client.audit_events.list(
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            actor_id=actor,
            created_after=since,
            created_before=until,
            limit=limit,
        ),
        limit,
    )
    if out.as_json:
        out.table(events, AUDIT_COLUMNS)
        return
    rows: list[dict[str, Any]] = [
        {
            **event.model_dump(),
            "actor": f"{event.actor.type}:{event.actor.id or '-'}",
        }
        for event in events
    ]
    out.table(rows, AUDIT_COLUMNS)
