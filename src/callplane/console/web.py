"""What every console page needs: the signed-in subject, CSRF, forms, transactions, rendering.

Errors raised by the services (AppError) are rendered as a page with their status, by the route
class every console route uses, so a refused write shows the same words the API would answer.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import orjson
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.console import sessions
from callplane.console.sessions import COOKIE, ConsoleSubject
from callplane.db.engine import Database
from callplane.db.session import WriteHooks, run_in_transaction_hooks
from callplane.errors import AppError, Forbidden, NotFound

HERE = Path(__file__).parent
LOGIN_CSRF_COOKIE = "callplane_console_login"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 1024 * 1024

templates = Jinja2Templates(directory=str(HERE / "templates"))
try:
    ASSET_VERSION = metadata.version("callplane")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    ASSET_VERSION = "dev"
templates.env.globals["asset_version"] = ASSET_VERSION


class StaticAssets(StaticFiles):
    """The vendored assets, cacheable: their URLs carry the package version (`?v=`)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


class NotSignedIn(Exception):
    def __init__(self, reason: str | None = None):
        self.reason = reason


class CsrfRefused(AppError):
    status = 403
    code = "csrf_refused"
    default_detail = "The form was stale or forged (CSRF check failed). Reload the page and retry."


class ConsoleRoute(APIRoute):
    """Renders AppErrors as pages and sends visitors without a session to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn as gone:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                location = f"/console/login?next={quote(target)}"
                if gone.reason:
                    location += f"&reason={gone.reason}"
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": location})
                response = RedirectResponse(location, status_code=303)
                if gone.reason:
                    response.delete_cookie(COOKIE, path="/console")
                return response
            except AppError as error:
                return render(
                    request,
                    "error.html",
                    {"status": error.status, "code": error.code, "detail": error.detail},
                    status=error.status,
                )

        return route


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    values = {"subject": getattr(request.state, "console", None), **(context or {})}
    return templates.TemplateResponse(request, template, values, status_code=status)


@asynccontextmanager
async def transaction(request: Request, *, write: bool) -> AsyncIterator[AsyncSession]:
    """One transaction, as the API's request sessions (same write hooks: audit attribution,
    after-commit work such as starting workflows); it rolls back when the block raises."""
    database: Database = request.app.state.database
    hooks: WriteHooks = request.app.state.write_hooks
    async with database.session(write=write) as session:
        if write:
            for opened in hooks.opened:
                opened(session, request.state)
        async with session.begin():
            yield session
            if write:
                for committing in hooks.committing:
                    await committing(session, request.state)
        await run_in_transaction_hooks(session)


async def signed_in(request: Request) -> ConsoleSubject:
    """The console subject of this request; the API's subject is set too (audit attribution)."""
    async with transaction(request, write=False) as session:
        found = await sessions.resolve(session, request.cookies.get(COOKIE))
    if found.subject is None:
        raise NotSignedIn("expired" if found.expired else None)
    request.state.console = found.subject
    request.state.subject = found.subject.auth
    return found.subject


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form (the console's forms post nothing else); last value wins."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise AppError("The form is too large.")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise AppError("The form is not UTF-8.") from None
    return {key: values[-1] for key, values in parsed.items()}


def check_csrf(request: Request, subject: ConsoleSubject, fields: dict[str, str] | None) -> None:
    sent = request.headers.get(CSRF_HEADER) or (fields or {}).get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent.encode(), subject.csrf_token.encode()):
        raise CsrfRefused()


async def acting(request: Request, *scopes: str) -> tuple[ConsoleSubject, dict[str, str]]:
    """A state-changing request: signed in, CSRF token checked, one of `scopes` held."""
    subject = await signed_in(request)
    fields = await form(request) if request.method in UNSAFE and not _json(request) else {}
    check_csrf(request, subject, fields)
    require(subject, *scopes)
    return subject, fields


def _json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


def require(subject: ConsoleSubject, *scopes: str) -> None:
    if scopes and not subject.auth.has_any(*scopes):
        raise Forbidden(f"Missing scope: requires {' or '.join(scopes)}.")


def login_csrf(request: Request) -> str:
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def check_login_csrf(request: Request, fields: dict[str, str]) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = fields.get("login_csrf", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRefused()


def secure_cookies(request: Request) -> bool:
    return bool(request.app.state.settings.env == "production")


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    minutes = int(request.app.state.settings.console_session_minutes)
    response.set_cookie(
        COOKIE,
        value,
        max_age=minutes * 60,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")


def sse(event: Any) -> bytes:
    """One engine event (callplane.runtime.events) as a Server-Sent Event."""
    name: str = event.event
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(event.data()) + b"\n\n"


def page_uuid(raw: str) -> uuid.UUID:
    """A page's id from its URL: anything else is a page that does not exist (404)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such page.") from None


def field_errors(error: ValidationError) -> dict[str, str]:
    """A form's validation errors by field path (`llm.model`), the first message of each, to
    show next to the field that caused it."""
    found: dict[str, str] = {}
    for issue in error.errors(include_url=False, include_input=False, include_context=False):
        key = ".".join(str(part) for part in issue["loc"]) or "_"
        found.setdefault(key, issue["msg"])
    return found


def field_errors_text(error: ValidationError) -> str:
    """The same errors as one line (`field: message; ...`), for a form shown without fields."""
    return "; ".join(f"{key}: {message}" for key, message in field_errors(error).items())
