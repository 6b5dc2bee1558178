"""`callplane chat AGENT`: talk to an agent from a terminal, or from a script.

Interactive (no `--message`): each line you type is a turn; the agent's reply streams as it is
written, with its tool calls, knowledge passages and actions shown as they happen. `/end` (or
Ctrl-D) ends the conversation. Lines piped on stdin are turns too, so a transcript can be replayed.

Scripted (`--message`, repeatable): those turns in order, then the conversation is ended; with
`--json` one JSON document on stdout. Interactive `--json` prints JSON lines (one per event).

Exit codes: those of every remote command (docs/cli.md), and 1 when a `--message` turn ended with
an `error` event (the model failed: its error is on stderr and in the JSON).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import typer

from callplane.cli_remote._common import (
    EXIT_API_ERROR,
    AgentId,
    Output,
    jsonable,
    remote,
    version_ref,
)
from callplane.client import Client
from callplane.conversations.schemas import LiveConversationRead, TurnEvent

CHANNELS = ("text", "webrtc", "telephone", "sms", "email")
END_COMMANDS = frozenset({"/end", "/quit", "/exit"})
RESULT_PREVIEW = 160  # characters of a tool result shown in the transcript


def _version(raw: str | None) -> int | Literal["live", "latest"] | None:
    if raw is None or raw == "live":
        return None if raw is None else "live"
    return version_ref(raw)


def _variables(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--var takes NAME=VALUE, not {pair!r}")
        variables[name] = value
    return variables


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= RESULT_PREVIEW else flat[: RESULT_PREVIEW - 1] + "…"


class Transcript:
    """The conversation as people read it: `agent>` replies streamed as they arrive, `↳` lines
    for what happens around them (tool calls and results, knowledge, actions); errors on
    stderr. Colour only on a terminal."""

    def __init__(self) -> None:
        self.terminal = sys.stdout.isatty()
        self.mid_line = False  # the cursor is after streamed text, not at a line start
        self.replying = False

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _line(self, text: str, *, dim: bool = True) -> None:
        self._break()
        shown = typer.style(text, dim=True) if dim and self.terminal else text
        self._write(shown + "\n")

    def _break(self) -> None:
        if self.mid_line:
            self._write("\n")
            self.mid_line = False
        self.replying = False

    def agent_says(self, text: str) -> None:
        if not self.replying:
            # A reply resuming after a `↳` line: its paragraph break is that line already.
            text = text.lstrip("\n")
        if not text:
            return
        if not self.replying:
            self._break()
            label = typer.style("agent>", bold=True) if self.terminal else "agent>"
            self._write(label + " ")
            self.replying = True
        self._write(text)
        self.mid_line = not text.endswith("\n")

    def user_says(self, text: str) -> None:
        self._line(f"you> {text}", dim=False)

    def note(self, text: str) -> None:
        self._line(text)

    def event(self, event: TurnEvent) -> None:
        data = event.data
        if event.event == "delta":
            self.agent_says(str(data.get("text", "")))
        elif event.event == "tool_call":
            self.note(f"  ↳ tool {data.get('name')}({_compact(data.get('arguments'))})")
        elif event.event == "tool_result":
            outcome = "failed" if data.get("is_error") else "→"
            content = _preview(_compact(data.get("content", "")))
            self.note(f"  ↳ {data.get('name')} {outcome} {content}")
        elif event.event == "knowledge":
            passages = data.get("passages") or []
            sources = ", ".join(
                str(p.get("title") or p.get("url") or "untitled") for p in passages[:3]
            )
            more = f" (+{len(passages) - 3} more)" if len(passages) > 3 else ""
            self.note(f"  ↳ knowledge: {len(passages)} passage(s): {sources}{more}")
        elif event.event == "action":
            details = {k: v for k, v in data.items() if k != "type" and v is not None}
            shown = f" {_compact(details)}" if details else ""
            self.note(f"  ↳ action {data.get('type')}{shown}")
        elif event.event == "error":
            self._break()
            typer.echo(f"error: {data.get('code')}: {data.get('message')}", err=True)
        elif event.event == "done":
            self._break()
            if data.get("ended"):
                self.note(f"[conversation ended: {data.get('ended_reason')}]")

    def started(self, conversation: LiveConversationRead) -> None:
        self.note(
            f"[conversation {conversation.id}: version {conversation.version}, channel "
            f"{conversation.channel}, model {conversation.model}]"
        )
        if conversation.starting_message:
            self.agent_says(conversation.starting_message)
            self._break()


def _lines(interactive: bool) -> Iterator[str]:
    """The user's turns: typed at a `you>` prompt, or read from a pipe."""
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            if interactive:
                sys.stdout.write("\n")  # Ctrl-D left the cursor after the prompt
            return
        if not interactive and not line:
            return
        text = line.strip()
        if text:
            yield text


def chat(
    client: Client,
    out: Output,
    agent_id: AgentId,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="live (default: the published version), latest (drafts too), or N."
        ),
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", help="text (default), webrtc, telephone, sms or email: its overrides."
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="NAME=VALUE for a {{NAME}} placeholder (repeatable)."),
    ] = None,
    message: Annotated[
        list[str] | None,
        typer.Option(
            "--message", "-m", help="Send this turn instead of chatting (repeatable, in order)."
        ),
    ] = None,
) -> None:
    """Talk to an agent: interactive with streaming output, or scripted with --message."""
    if channel is not None and channel not in CHANNELS:
        raise typer.BadParameter(f"--channel is one of {', '.join(CHANNELS)}, not {channel!r}")
    started = client.conversations.start(
        agent_id, version=_version(version), channel=channel, variables=_variables(var)
    )
    if message:
        _scripted(client, out, started, message)
    elif out.as_json:
        _json_lines(client, started)
    else:
        _interactive(client, started)


def _scripted(
    client: Client, out: Output, started: LiveConversationRead, messages: list[str]
) -> None:
    transcript = None if out.as_json else Transcript()
    if transcript is not None:
        transcript.started(started)
    turns: list[dict[str, Any]] = []
    failed = ended = False
    for content in messages:
        if transcript is not None:
            transcript.user_says(content)
            events = []
            for event in client.conversations.send(started.id, content):
                transcript.event(event)
                events.append(event)
            done = events[-1].data if events and events[-1].event == "done" else {}
            failed |= any(event.event == "error" for event in events)
        else:
            turn = client.conversations.turn(started.id, content)
            turns.append(jsonable(turn))
            done = {"ended": turn.ended}
            failed |= any(event.event == "error" for event in turn.events)
        if done.get("ended"):
            ended = True
            break
    final = None if ended else client.conversations.end(started.id)
    if out.as_json:
        reason = final.ended_reason if final is not None else turns[-1]["ended_reason"]
        document = {"conversation": jsonable(started), "turns": turns, "ended_reason": reason}
        typer.echo(json.dumps(document, indent=2))
    if failed:
        raise typer.Exit(EXIT_API_ERROR)


def _json_lines(client: Client, started: LiveConversationRead) -> None:
    def emit(event: str, data: Any) -> None:
        typer.echo(json.dumps({"event": event, "data": jsonable(data)}, ensure_ascii=False))

    emit("started", started)
    for content in _lines(interactive=False):
        if content in END_COMMANDS:
            break
        emit("user", {"content": content})
        ended = False
        for event in client.conversations.send(started.id, content):
            emit(event.event, event.data)
            ended = event.event == "done" and bool(event.data.get("ended"))
        if ended:
            return
    emit("ended", client.conversations.end(started.id))


def _interactive(client: Client, started: LiveConversationRead) -> None:
    interactive = sys.stdin.isatty()
    transcript = Transcript()
    transcript.started(started)
    if interactive:
        transcript.note("[type a message; /end or Ctrl-D to finish]")
    try:
        for content in _lines(interactive):
            if content in END_COMMANDS:
                break
            if not interactive:
                transcript.user_says(content)
            ended = False
            for event in client.conversations.send(started.id, content):
                transcript.event(event)
                ended = event.event == "done" and bool(event.data.get("ended"))
            if ended:
                return
    except KeyboardInterrupt:
        transcript.note("[interrupted]")
        client.conversations.end(started.id)
        raise typer.Exit(130) from None
    client.conversations.end(started.id)
    transcript.note("[conversation ended: ended_by_user]")


def register(app: typer.Typer) -> None:
    app.command("chat")(remote(chat))
