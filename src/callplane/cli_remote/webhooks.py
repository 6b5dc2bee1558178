"""`callplane webhooks …`: event subscriptions, their deliveries and signing secrets."""

from __future__ import annotations

from typing import Annotated

import typer

from callplane.cli_remote._common import (
    Limit,
    Output,
    given,
    group,
    remote,
    take,
)
from callplane.client import Client

app = group("Webhooks: subscribe URLs to events, inspect and resend deliveries.")

WEBHOOK_COLUMNS = ["id", "url", "events", "active", "description", "updated_at"]
DELIVERY_COLUMNS = [
    "id",
    "event_type",
    "status",
    "attempts",
    "last_status_code",
    "created_at",
    "delivered_at",
]
WebhookId = Annotated[str, typer.Argument(help="Webhook id.")]
Events = Annotated[
    list[str] | None,
    typer.Option(
        "--event", help="An event (agent.created), a pattern (agent.*) or * (repeatable)."
    ),
]
SECRET_NOTE = "store the secret now: it is not shown again"


@app.command("list")
@remote
def webhooks_list(client: Client, out: Output, limit: Limit = 100) -> None:
    """The organization's webhooks."""
    out.table(take(client.webhooks.list(limit=limit), limit), WEBHOOK_COLUMNS)


@app.command("get")
@remote
def webhooks_get(client: Client, out: Output, webhook_id: WebhookId) -> None:
    """One webhook (its secret is never shown again: rotate it if lost)."""
    out.record(client.webhooks.get(webhook_id), [*WEBHOOK_COLUMNS, "created_at"])


@app.command("create")
@remote
def webhooks_create(
    client: Client,
    out: Output,
    target: Annotated[
        str, typer.Argument(metavar="URL", help="Where to POST the events (http or https).")
    ],
    event: Events = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="Create it paused.")] = False,
) -> None:
    """Subscribe a URL to events; prints the signing secret, shown only this once."""
    if not event:
        raise typer.BadParameter("give at least one --event (e.g. --event 'agent.*')")
    webhook = client.webhooks.create(
        url=target, events=event, description=description, active=not inactive
    )
    out.record(webhook, [*WEBHOOK_COLUMNS, "secret"])
    if not out.as_json:
        typer.echo(SECRET_NOTE, err=True)


@app.command("update")
@remote
def webhooks_update(
    client: Client,
    out: Output,
    webhook_id: WebhookId,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="The new URL to deliver to.")
    ] = None,
    event: Events = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a webhook (the options given; --event replaces the list)."""
    changes = given(url=webhook_url, events=event or None, description=description, active=active)
    out.record(client.webhooks.update(webhook_id, **changes), WEBHOOK_COLUMNS)


@app.command("delete")
@remote
def webhooks_delete(client: Client, out: Output, webhook_id: WebhookId) -> None:
    """Delete a webhook and its delivery history (pending deliveries are dropped)."""
    client.webhooks.delete(webhook_id)
    out.done({"deleted": webhook_id}, f"deleted webhook {webhook_id}")


@app.command("rotate-secret")
@remote
def webhooks_rotate_secret(client: Client, out: Output, webhook_id: WebhookId) -> None:
    """Issue a new signing secret (shown only now); the old one stops working at once."""
    out.record(client.webhooks.rotate_secret(webhook_id), ["id", "url", "secret"])
    if not out.as_json:
        typer.echo(SECRET_NOTE, err=True)


@app.command("deliveries")
@remote
def webhooks_deliveries(
    client: Client,
    out: Output,
    webhook_id: WebhookId,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, succeeded or failed.")
    ] = None,
    limit: Limit = 20,
) -> None:
    """A webhook's deliveries, newest first."""
    deliveries = client.webhooks.deliveries.list(webhook_id, status=status, limit=limit)
    out.table(take(deliveries, limit), DELIVERY_COLUMNS)


@app.command("redeliver")
@remote
def webhooks_redeliver(
    client: Client,
    out: Output,
    webhook_id: WebhookId,
    delivery_id: Annotated[str, typer.Argument(help="The delivery to send again.")],
) -> None:
    """Send a delivery's event again, as a new delivery (same event id)."""
    delivery = client.webhooks.deliveries.redeliver(webhook_id, delivery_id)
    out.record(delivery, DELIVERY_COLUMNS)
