"""The `callplane` command: serve, worker, migrate, bootstrap, keys, tokens, orgs, console-link.

The server side (SQLAlchemy, Alembic, the app) is imported by the commands that use it, so the
remote commands CI/CD runs step after step (agents, plan, apply…) start in a fraction of the time,
and run where only `pip install callplane` (no `[server]` extra) was installed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging.config
import os
import shlex
import signal
import uuid
from collections.abc import Awaitable, Callable
from importlib import metadata
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from callplane.cli_ascode import register as register_ascode
from callplane.cli_remote import register as register_remote_commands
from callplane.cli_remote._common import Output
from callplane.config import get_settings
from callplane.logs import log_config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

app = typer.Typer(
    help="callplane: control plane for conversational AI agents.", no_args_is_help=True
)
keys_app = typer.Typer(help="Organization API keys (ak_…).", no_args_is_help=True)
tokens_app = typer.Typer(help="Personal access tokens (pat_…).", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations in this server's database.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(tokens_app, name="tokens")
app.add_typer(orgs_app, name="orgs")
register_remote_commands(app)  # agents, versions, numbers, workflows: through the SDK
register_ascode(app)  # plan, apply, export: agents as code

T = TypeVar("T")
P = ParamSpec("P")

SERVER_EXTRA = "pip install 'callplane[server]'"


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"callplane {metadata.version('callplane')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """callplane: control plane for conversational AI agents."""


def _server_command(command: Callable[P, None]) -> Callable[P, None]:
    """Mark a command that runs the server side (the database, the app, workflows).

    `pip install callplane` is the SDK and the remote commands; the server's dependencies come
    with the `[server]` extra. Without them, the command says how to get them (exit 2) instead of
    ending in an ImportError traceback.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except ModuleNotFoundError as missing:
            if missing.name is None or missing.name.partition(".")[0] == "callplane":
                raise
            typer.echo(
                "Error: this command runs the server, whose dependencies are not installed "
                f"(no module {missing.name!r}): {SERVER_EXTRA}",
                err=True,
            )
            raise typer.Exit(2) from None

    return run


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction against CALLPLANE_DATABASE_URL."""
    from callplane import wiring
    from callplane.db.engine import Database, create_engine

    wiring.install()  # its audit events reach webhooks too (delivered by a worker's sweep)

    async def run() -> T:
        database = Database(create_engine(get_settings().database_url, pool_size=1))
        try:
            async with database.session(write=True) as session, session.begin():
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    typer.echo(json.dumps(payload, indent=2) if as_json else human)


@app.command()
@_server_command
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes (PostgreSQL only)")] = 1,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Only enqueue workflows; `callplane worker` runs them."),
    ] = False,
) -> None:
    """Serve the HTTP API (and, on the embedded default, run workflows in-process)."""
    import uvicorn

    from callplane.kit import memory

    memory.configure()  # before uvicorn and the engine start their threads

    if no_worker:
        os.environ["CALLPLANE_WORKFLOWS"] = "enqueue_only"
        get_settings.cache_clear()
    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        raise typer.BadParameter("--workers > 1 needs PostgreSQL (CALLPLANE_DATABASE_URL)")
    # uvicorn shuts down gracefully on SIGTERM, then raises SIGTERM again to end the process;
    # ending with status 0 then tells a supervisor the stop was clean.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "callplane.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=log_config(settings.log_level),
        access_log=False,  # ours: one JSON line per request on `callplane.access`
        # No permessage-deflate on WebSockets: a voice stream is 50 small messages a second each
        # way, base64 audio that compresses poorly; zlib on each was the largest CPU cost of
        # sending a frame (measured: docs/adr/0019), on the event loop every call shares.
        ws_per_message_deflate=False,
        # On SIGTERM: stop accepting, let in-flight requests finish for up to this long.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


def _exit_cleanly(_signal: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


@app.command()
@_server_command
def worker() -> None:
    """Run workflows from the shared queue (PostgreSQL deployments).

    Each worker gets a unique executor id (or CALLPLANE_WORKFLOW_EXECUTOR_ID); survivors take over
    the unfinished workflows of a worker that died (docs/operations.md).
    """
    from callplane.kit import memory
    from callplane.worker import run_worker

    memory.configure()
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))
    if settings.worker_metrics_port is not None:
        from callplane.observability import worker_metrics

        worker_metrics.serve(settings, settings.worker_metrics_port)
    asyncio.run(run_worker(settings))


@app.command()
@_server_command
def migrate() -> None:
    """Apply database migrations up to the newest."""
    from callplane.db import migrate as migrations

    url = get_settings().database_url
    migrations.upgrade(url)
    typer.echo(f"database at migration {migrations.head_revision()}")


@app.command()
@_server_command
def bootstrap(
    org_name: Annotated[str, typer.Option("--org-name")],
    email: Annotated[str, typer.Option("--email")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when an organization already exists.")
    ] = False,
    url: Annotated[
        str, typer.Option("--url", help="Where the API will be served (for the example).")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Create an organization, its admin user, an all-scope API key and a token for the user."""
    from callplane.organizations import repository
    from callplane.organizations.service import PlatformService

    async def work(session: AsyncSession) -> dict[str, Any] | None:
        if if_empty and await repository.organization_exists(session):
            return None
        made = await PlatformService(session).bootstrap(org_name, email)
        return {
            "organization_id": str(made.organization.id),
            "user_id": str(made.user.id),
            "api_key": made.api_key.credential,
            "personal_access_token": made.token.credential,
        }

    result = _in_transaction(work)
    base_url = url.rstrip("/")
    if result is None:
        _emit(
            as_json,
            {"bootstrapped": False},
            "The database already has an organization; nothing bootstrapped (its key was shown "
            "when it was made). Make a new key:\n"
            "  callplane keys create --name laptop    # with several organizations add --org ID "
            "(callplane orgs list)\n\n" + _next_steps(base_url, "<the key it printed>"),
        )
        return
    _emit(
        as_json,
        result,
        "Bootstrapped (the secrets are shown only now):\n"
        f"  organization_id:       {result['organization_id']}\n"
        f"  admin user:            {email} ({result['user_id']})\n"
        f"  API key:               {result['api_key']}\n"
        f"  personal access token: {result['personal_access_token']}\n\n"
        + _next_steps(base_url, shlex.quote(result["api_key"]))
        + "\n\nOr with curl:\n"
        f"  curl -H 'Authorization: Bearer {result['api_key']}' {base_url}/core/agents",
    )


def _next_steps(base_url: str, api_key: str) -> str:
    """What to paste to use the server from a shell, and where to read on."""
    return (
        "Use it from a shell (the `callplane` command and the Python SDK read these):\n"
        f"  export CALLPLANE_URL={shlex.quote(base_url)}\n"
        f"  export CALLPLANE_API_KEY={api_key}\n"
        "  callplane agents list      # in this checkout: .venv/bin/callplane\n\n"
        f"Docs: {base_url}/docs (the API, once the server runs); README.md and docs/sdk.md "
        "(the SDK and the command line)"
    )


@keys_app.command("create")
@_server_command
def keys_create(
    name: Annotated[str, typer.Option("--name")],
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organization id; default: the only one (callplane orgs list)"),
    ] = None,
    scopes: Annotated[str | None, typer.Option("--scopes", help="Comma-separated")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an organization API key (ak_…)."""
    from callplane.auth.scopes import ALL_SCOPES
    from callplane.errors import AppError
    from callplane.organizations import repository
    from callplane.organizations.service import OrganizationService

    try:
        chosen = None if org is None else uuid.UUID(org)
    except ValueError:
        raise typer.BadParameter("--org must be an organization id (UUID)") from None
    wanted = [s.strip() for s in scopes.split(",") if s.strip()] if scopes else None

    async def work(session: AsyncSession) -> dict[str, Any]:
        organization_id = chosen or await _the_only_organization(session)
        if await repository.get_organization(session, organization_id) is None:
            raise typer.BadParameter(f"no organization {organization_id}")
        try:
            key, issued = await OrganizationService(session, organization_id).create_api_key(
                name, scopes=wanted, allowed=ALL_SCOPES
            )
        except AppError as exc:  # e.g. an unknown scope: a usage error, not a traceback
            raise typer.BadParameter(exc.detail) from None
        return {
            "key_id": key.id.hex,
            "api_key": issued.credential,
            "scopes": list(key.scopes),
            "organization_id": str(organization_id),
        }

    result = _in_transaction(work)
    _emit(as_json, result, f"API key (shown once): {result['api_key']}")


async def _the_only_organization(session: AsyncSession) -> uuid.UUID:
    """The default --org: unambiguous only while the database holds exactly one organization."""
    from callplane.organizations import repository

    organizations = await repository.list_organizations(session)
    if not organizations:
        raise typer.BadParameter("no organization yet: create one with `callplane bootstrap`")
    if len(organizations) > 1:
        raise typer.BadParameter(
            f"{len(organizations)} organizations: pass --org (see `callplane orgs list`)"
        )
    return organizations[0].id


@app.command("console-link")
@_server_command
def console_link(
    email: Annotated[
        str | None,
        typer.Option("--email", help="The user to sign in; default: the only admin there is."),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organization id; default: the only one (callplane orgs list)"),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Where the server is (default: settings)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a one-time, short-lived link that signs a user in to the web console."""
    from sqlalchemy import select

    from callplane.console import sessions
    from callplane.models import Membership, User
    from callplane.organizations import repository

    try:
        chosen = None if org is None else uuid.UUID(org)
    except ValueError:
        raise typer.BadParameter("--org must be an organization id (UUID)") from None
    settings = get_settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        organization_id = chosen or await _the_only_organization(session)
        if await repository.get_organization(session, organization_id) is None:
            raise typer.BadParameter(f"no organization {organization_id}")
        members = (
            select(User, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id == organization_id)
        )
        if email is not None:
            members = members.where(User.email == email)
        else:
            members = members.where(Membership.role == "admin")
        found = (await session.execute(members.order_by(User.created_at).limit(2))).all()
        if not found:
            raise typer.BadParameter(
                f"no member {email} in {organization_id}" if email else "no admin to sign in"
            )
        if len(found) > 1 and email is None:
            raise typer.BadParameter("several admins: pass --email")
        user = found[0][0]
        issued = await sessions.create_login_link(
            session, user.id, organization_id, settings.console_login_link_minutes
        )
        return {
            "token": issued.token,
            "email": user.email,
            "organization_id": str(organization_id),
            "expires_at": issued.expires_at.isoformat(),
        }

    result = _in_transaction(work)
    base = (url or settings.console_public_url or "http://127.0.0.1:8000").rstrip("/")
    result["url"] = f"{base}/console/login/link?token={result.pop('token')}"
    _emit(
        as_json,
        result,
        f"Console login link for {result['email']} (works once, until {result['expires_at']}):\n"
        f"  {result['url']}",
    )


@orgs_app.command("list")
@_server_command
def orgs_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the organizations in the database (id, name, created), oldest first."""
    from callplane.organizations import repository
    from callplane.organizations.schemas import OrganizationRead

    async def work(session: AsyncSession) -> list[OrganizationRead]:
        organizations = await repository.list_organizations(session)
        return [OrganizationRead.model_validate(o) for o in organizations]

    Output(as_json).table(_in_transaction(work), ["id", "name", "created_at"])


@tokens_app.command("create")
@_server_command
def tokens_create(
    email: Annotated[str, typer.Option("--email")],
    name: Annotated[str, typer.Option("--name")] = "cli",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a personal access token (pat_…) for an existing user."""
    from callplane.organizations import repository
    from callplane.organizations.service import PlatformService

    async def work(session: AsyncSession) -> dict[str, Any]:
        user = await repository.get_user_by_email(session, email)
        if user is None:
            raise typer.BadParameter(f"no user with email {email}")
        token = await PlatformService(session).create_token(user, name)
        return {
            "token_id": token.id.hex,
            "personal_access_token": token.credential,
            "user_id": str(user.id),
        }

    result = _in_transaction(work)
    _emit(
        as_json,
        result,
        f"Personal access token (shown once): {result['personal_access_token']}\n"
        "Send it with X-Anyreach-Org: <organization_id>.",
    )


def main() -> None:
    app()
