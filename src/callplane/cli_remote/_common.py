"""What every remote command shares: the connection options, the SDK client, output (rich tables
or JSON), API errors as exit codes, and the parsing of option values."""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from callplane.client import (
    CallplaneError,
    Client,
    Conflict,
    ConnectionFailed,
    MissingApiKey,
    NotFound,
    PreconditionFailed,
)

EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNREACHABLE = 5
EXIT_TIMEOUT = 6

NO_KEY = "no API key: set CALLPLANE_API_KEY or pass --api-key"


def group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True)


class Output:
    """Human output on stdout by default (rich tables), with --json machine-readable JSON.

    On a terminal the tables get rules and colour and fit the window; piped, they are plain
    columns of full width (never cut), one row a line, so `grep` and `awk` work on them."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def value(self, value: Any, human: Callable[[], RenderableType]) -> None:
        if self.as_json:
            typer.echo(json.dumps(jsonable(value), indent=2))
        else:
            show(human())

    def record(self, model: BaseModel, names: Sequence[str]) -> None:
        """One resource as `field  value` lines."""
        self.value(model, lambda: fields(model, names))

    def table(self, rows: Iterable[Any], columns: Sequence[str]) -> None:
        listed = list(rows)
        self.value(listed, lambda: table(listed, columns))

    def done(self, payload: dict[str, Any], message: str) -> None:
        """A write that answers nothing worth a table (a delete)."""
        self.value(payload, lambda: Text(message))


def _console() -> Console:
    terminal = sys.stdout.isatty()
    return Console(
        file=sys.stdout, highlight=False, width=None if terminal else 100_000, soft_wrap=False
    )


def show(renderable: RenderableType) -> None:
    if isinstance(renderable, str):
        renderable = Text(renderable)  # values are printed as they are, never read as markup
    console = _console()
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def table(rows: Sequence[Any], columns: Sequence[str]) -> Table:
    """Rows (read models or dicts) as a table of the given columns."""
    terminal = sys.stdout.isatty()
    grid = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        pad_edge=False,
        show_edge=False,
        header_style="bold" if terminal else "",
    )
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(cell(_get(row, column))) for column in columns))
    return grid


def fields(model: Any, names: Sequence[str]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold" if sys.stdout.isatty() else "")
    grid.add_column(overflow="fold")
    for name in names:
        grid.add_row(f"{name}:", Text(cell(_get(model, name))))
    return grid


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)


def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return str(value.isoformat(timespec="seconds"))
    if isinstance(value, list):
        return ", ".join(cell(item) for item in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def fail(code: int, message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def exit_code(error: CallplaneError) -> int:
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, Conflict | PreconditionFailed):
        return EXIT_CONFLICT
    if isinstance(error, ConnectionFailed):
        return EXIT_UNREACHABLE
    return EXIT_API_ERROR


def describe(error: CallplaneError) -> str:
    detail = error.detail
    if isinstance(detail, list):  # FastAPI's 422 list
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}" for item in detail
        )
    return f"{error.code}: {detail}"


def _option(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_TEXT = str | None
_COMMON = [
    _option(
        "url",
        None,
        Annotated[_TEXT, typer.Option("--url", envvar="CALLPLANE_URL", help="API base URL.")],
    ),
    _option(
        "api_key",
        None,
        Annotated[
            _TEXT,
            typer.Option("--api-key", envvar="CALLPLANE_API_KEY", help="ak_… key or pat_… token."),
        ],
    ),
    _option(
        "org",
        None,
        Annotated[
            _TEXT,
            typer.Option("--org", envvar="CALLPLANE_ORG", help="Organization id (for pat_…)."),
        ],
    ),
    _option(
        "as_json",
        False,
        Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")],
    ),
]


def connect(url: str | None, api_key: str | None, org: str | None) -> Client:
    """The SDK client for a command's connection options; MissingApiKey without a key. (The one
    place commands get a client: the tests point it at the app in their own process.)"""
    return Client(url, api_key, org)


def remote(func: Callable[..., None]) -> Callable[..., None]:
    """Give a command the connection options, a `Client` and an `Output`; API errors become
    `code: detail` on stderr and the documented exit code; no key is a usage error (2)."""

    @functools.wraps(func)
    def command(
        *args: Any, url: str | None, api_key: str | None, org: str | None, as_json: bool, **kw: Any
    ) -> None:
        try:
            with connect(url, api_key, org) as client:
                func(client, Output(as_json), *args, **kw)
        except MissingApiKey:
            raise fail(EXIT_USAGE, NO_KEY) from None
        except CallplaneError as error:
            raise fail(exit_code(error), describe(error)) from None

    own = inspect.signature(func, eval_str=True).parameters.values()
    parameters = [p for p in own if p.name not in ("client", "out")] + _COMMON
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return command


def version_ref(raw: str) -> int | Literal["latest"]:
    if raw == "latest":
        return "latest"
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if number < 1:
        raise typer.BadParameter(f"a version is a number ≥ 1 or `latest`, not {raw!r}")
    return number


def json_value(raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise typer.BadParameter(f"{what} is not valid JSON: {exc}") from None


def json_object(raw: str | None, what: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json_value(raw, what)
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{what} must be a JSON object")
    return value


def read_text(path: Path, what: str) -> str:
    """A file's text; `-` reads standard input."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {what} {path}: {exc.strerror}") from None


def json_file(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    return json_object(read_text(path, what), f"{what} {path}")


def present(**options: Any) -> dict[str, Any]:
    """The options the user gave (not None): the server's defaults apply to the others."""
    return {key: value for key, value in options.items() if value is not None}


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave; a usage error when there are none (an update of nothing)."""
    chosen = present(**options)
    if not chosen:
        raise typer.BadParameter("nothing to update: give at least one option (see --help)")
    return chosen


def take(items: Iterable[Any], limit: int) -> list[Any]:
    """At most `limit` items, fetching no page beyond them."""
    return list(itertools.islice(items, limit))


AgentId = Annotated[str, typer.Argument(help="Agent id.")]
VersionArg = Annotated[str, typer.Argument(help="Version number or `latest`.")]
IfMatch = Annotated[str | None, typer.Option("--if-match", help="Expected ETag (else 412).")]
Limit = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")]
Since = Annotated[
    str | None, typer.Option("--since", help="Created at or after (ISO 8601, e.g. 2026-12-01).")
]
Until = Annotated[str | None, typer.Option("--until", help="Created before (ISO 8601).")]
