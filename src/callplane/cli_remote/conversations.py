"""`callplane conversations list|get|import`: conversation records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from callplane.cli_remote._common import (
    Limit,
    Output,
    Since,
    Until,
    group,
    json_value,
    read_text,
    remote,
    take,
)
from callplane.client import CallplaneError, Client
from callplane.kit.text import plural

app = group("Conversations: list, read, import historical records.")

CONVERSATION_COLUMNS = [
    "id",
    "agent_id",
    "channel",
    "direction",
    "status",
    "duration_seconds",
    "started_at",
]
IMPORT_BATCH = 500  # the API's largest import


@app.command("list")
@remote
def conversations_list(
    client: Client,
    out: Output,
    agent: Annotated[str | None, typer.Option("--agent", help="With this agent.")] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="telephone, webrtc, sms, email or text.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    direction: Annotated[str | None, typer.Option("--direction", help="inbound/outbound.")] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
) -> None:
    """Conversations, newest first."""
    conversations = client.conversations.list(
        agent_id=agent,
        channel=channel,
        status=status,
        direction=direction,
        created_after=since,
        created_before=until,
        limit=limit,
    )
    out.table(take(conversations, limit), CONVERSATION_COLUMNS)


@app.command("get")
@remote
def conversations_get(
    client: Client,
    out: Output,
    conversation_id: Annotated[str, typer.Argument(help="Conversation id.")],
) -> None:
    """One conversation (transcript, summary and metadata need conversations:read_sensitive)."""
    found = client.conversations.get(conversation_id)
    names = [*CONVERSATION_COLUMNS, "turns", "ended_at", "sensitive_included", "summary"]
    out.record(found, names)


@app.command("import")
@remote
def conversations_import(
    client: Client,
    out: Output,
    file: Annotated[
        Path,
        typer.Argument(
            help='JSON: a list of records, or {"conversations": [...]}; `-` reads stdin.'
        ),
    ],
) -> None:
    """Import historical conversation records (in batches of 500, each all or nothing)."""
    records = _records(json_value(read_text(file, "the file"), str(file)))
    ids: list[str] = []
    try:
        for start in range(0, len(records), IMPORT_BATCH):
            result = client.conversations.import_(records[start : start + IMPORT_BATCH])
            ids += [str(id_) for id_ in result.ids]
    except CallplaneError:
        if ids:  # each batch is all or nothing; the ones before the failure are in
            typer.echo(
                f"imported records 1-{len(ids)} of {len(records)}; the rest were not imported",
                err=True,
            )
        raise
    message = f"imported {plural(len(ids), 'conversation')}"
    out.value({"imported": len(ids), "ids": ids}, lambda: Text(message))


def _records(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict) and "conversations" in document:
        document = document["conversations"]
    if not isinstance(document, list) or not document:
        raise typer.BadParameter('expected a non-empty list of records or {"conversations": [...]}')
    if not all(isinstance(record, dict) for record in document):
        raise typer.BadParameter("every conversation record must be a JSON object")
    return document
