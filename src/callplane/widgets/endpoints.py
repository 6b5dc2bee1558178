"""`/core/web-widgets` (CRUD), and for embedding pages the credential-free public read and chat."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from callplane.agents.errors import AgentNotFound
from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.conversations.live import prepare_turn
from callplane.db.session import ReadSession, WriteSession, run_in_transaction_hooks
from callplane.errors import AppError, UnprocessableRequest, merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.ratelimit.errors import RateLimited
from callplane.ratelimit.limiter import RateLimiter
from callplane.widgets import chat
from callplane.widgets.errors import VersionNotPublishedForWidget, WidgetNotFound
from callplane.widgets.repository import get_published
from callplane.widgets.schemas import PublicWidget, WidgetCreate, WidgetRead, WidgetUpdate
from callplane.widgets.service import WidgetService, origin_allowed

router = APIRouter(prefix="/core/web-widgets", tags=["web widgets"])
public_router = APIRouter(prefix="/core/public/web-widgets", tags=["web widgets"])

Reader = Annotated[AuthSubject, Requires(Scope.WEB_WIDGETS_READ, Scope.WEB_WIDGETS_MANAGE)]
Manager = Annotated[AuthSubject, Requires(Scope.WEB_WIDGETS_MANAGE)]
Origin = Annotated[str | None, Header()]


@router.get("", response_model=Page[WidgetRead], responses=merge_responses(InvalidCursor))
async def list_web_widgets(
    subject: Reader,
    session: ReadSession,
    agent_id: uuid.UUID | None = None,
    published: bool | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[WidgetRead]:
    service = WidgetService(session, subject.organization_id)
    rows, next_cursor = await service.widgets.list(
        agent_id=agent_id, published=published, limit=limit, cursor=cursor
    )
    return Page.of([WidgetRead.model_validate(row) for row in rows], limit, next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=WidgetRead,
    responses=merge_responses(AgentNotFound, VersionNotPublishedForWidget),
)
async def create_web_widget(
    body: WidgetCreate, subject: Manager, session: WriteSession
) -> WidgetRead:
    """Create a widget serving a published version of an agent on the given domains."""
    widget = await WidgetService(session, subject.organization_id).create(body)
    return WidgetRead.model_validate(widget)


@router.get("/{widget_id}", response_model=WidgetRead, responses=merge_responses(WidgetNotFound))
async def get_web_widget(widget_id: uuid.UUID, subject: Reader, session: ReadSession) -> WidgetRead:
    return WidgetRead.model_validate(
        await WidgetService(session, subject.organization_id).get(widget_id)
    )


@router.patch(
    "/{widget_id}",
    response_model=WidgetRead,
    responses=merge_responses(WidgetNotFound, VersionNotPublishedForWidget),
)
async def update_web_widget(
    widget_id: uuid.UUID, body: WidgetUpdate, subject: Manager, session: WriteSession
) -> WidgetRead:
    widget = await WidgetService(session, subject.organization_id).update(widget_id, body)
    return WidgetRead.model_validate(widget)


@router.delete(
    "/{widget_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(WidgetNotFound),
)
async def delete_web_widget(widget_id: uuid.UUID, subject: Manager, session: WriteSession) -> None:
    await WidgetService(session, subject.organization_id).delete(widget_id)


def _cors(response: Response, origin: str | None, domains: list[str]) -> None:
    response.headers["Vary"] = "Origin"
    if origin and origin_allowed(origin, domains):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"


@public_router.get(
    "/{widget_id}", response_model=PublicWidget, responses=merge_responses(WidgetNotFound)
)
async def get_public_web_widget(
    widget_id: uuid.UUID, session: ReadSession, response: Response, origin: Origin = None
) -> PublicWidget:
    """No credential. Only published widgets; CORS answers only the widget's allowed domains."""
    widget = await get_published(session, widget_id)
    if widget is None:
        raise WidgetNotFound()
    _cors(response, origin, widget.domains)
    return PublicWidget.model_validate(widget)


@public_router.options(
    "/{widget_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(WidgetNotFound),
)
async def preflight_public_web_widget(
    widget_id: uuid.UUID, session: ReadSession, response: Response, origin: Origin = None
) -> None:
    """CORS preflight: allowed origins get the Access-Control headers, others do not."""
    widget = await get_published(session, widget_id)
    if widget is None:
        raise WidgetNotFound()
    _cors(response, origin, widget.domains)


# --- The widget's chat (credential-free; see callplane.widgets.chat) -----------------------------
# Not in the OpenAPI document: only widget.js calls these, from the pages of the widget's domains.

CHAT_HEADERS = "Content-Type, X-Widget-Token"


def _chat_cors(response: Response, origin: str) -> None:
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = CHAT_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"


async def _admit(request: Request, widget_id: uuid.UUID) -> None:
    """Rate limit per widget and client address (429 with Retry-After when spent)."""
    limiter: RateLimiter | None = getattr(request.app.state, "widget_rate_limiter", None)
    if limiter is None:
        return
    client = request.client.host if request.client is not None else "unknown"
    verdict = await limiter.check(chat.rate_key(widget_id, client))
    if not verdict.allowed:
        raise RateLimited(headers=verdict.headers())


async def _chat_widget(request: Request, widget_id: uuid.UUID) -> tuple[Any, str]:
    origin = request.headers.get("origin")
    async with request.app.state.database.session(write=False) as session, session.begin():
        widget = await chat.widget_for(session, widget_id, origin)
    await _admit(request, widget_id)
    assert origin is not None
    return widget, origin


def _json(body: Any, origin: str, status: int = 200) -> JSONResponse:
    response = JSONResponse(body, status_code=status)
    _chat_cors(response, origin)
    return response


def _refused(error: AppError, allowed_origin: str | None) -> JSONResponse:
    """The error; readable by the page (CORS headers) only when its origin is allowed."""
    response = JSONResponse(
        {"detail": error.detail, "code": error.code},
        status_code=error.status,
        headers=error.headers,
    )
    response.headers["Vary"] = "Origin"
    if allowed_origin is not None:
        _chat_cors(response, allowed_origin)
    return response


@public_router.options("/{widget_id}/conversations", include_in_schema=False)
@public_router.options("/{widget_id}/conversations/{conversation_id}", include_in_schema=False)
@public_router.options(
    "/{widget_id}/conversations/{conversation_id}/messages", include_in_schema=False
)
async def preflight_widget_chat(
    widget_id: uuid.UUID, session: ReadSession, origin: Origin = None
) -> Response:
    response = Response(status_code=204)
    response.headers["Vary"] = "Origin"
    widget = await get_published(session, widget_id)
    if widget is not None and origin and origin_allowed(origin, list(widget.domains)):
        _chat_cors(response, origin)
    return response


@public_router.post("/{widget_id}/conversations", include_in_schema=False)
async def start_widget_conversation(widget_id: uuid.UUID, request: Request) -> Response:
    """Start a conversation with the widget's agent version; the answer's `token` continues it."""
    allowed: str | None = None
    try:
        widget, origin = await _chat_widget(request, widget_id)
        allowed = origin
        runtime = request.app.state.live_runtime
        async with request.app.state.database.session(write=True) as session:
            async with session.begin():
                started = await chat.start(session, widget, runtime)
            await run_in_transaction_hooks(session)
    except AppError as error:
        return _refused(error, allowed)
    return _json(
        {
            "conversation_id": str(started.conversation.id),
            "token": started.token,
            "version": started.version,
            "starting_message": started.starting_message,
        },
        origin,
        201,
    )


@public_router.get("/{widget_id}/conversations/{conversation_id}", include_in_schema=False)
async def get_widget_conversation(
    widget_id: uuid.UUID, conversation_id: uuid.UUID, request: Request
) -> Response:
    """The messages so far (the widget shows them again after a page reload)."""
    allowed: str | None = None
    try:
        widget, origin = await _chat_widget(request, widget_id)
        allowed = origin
        async with request.app.state.database.session(write=False) as session, session.begin():
            row = await chat.conversation_for(
                session, widget, conversation_id, request.headers.get(chat.TOKEN_HEADER)
            )
    except AppError as error:
        return _refused(error, allowed)
    return _json(
        {
            "conversation_id": str(row.id),
            "status": row.status,
            "ended": row.status != "in_progress",
            "messages": chat.visible_messages(row),
        },
        origin,
    )


@public_router.post(
    "/{widget_id}/conversations/{conversation_id}/messages", include_in_schema=False
)
async def send_widget_message(
    widget_id: uuid.UUID, conversation_id: uuid.UUID, request: Request
) -> Response:
    """The visitor's message; the agent's turn streamed as Server-Sent Events."""
    allowed: str | None = None
    try:
        widget, origin = await _chat_widget(request, widget_id)
        allowed = origin
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise UnprocessableRequest('Send {"content": "<the message>"}.')
        async with request.app.state.database.session(write=False) as session, session.begin():
            await chat.conversation_for(
                session, widget, conversation_id, request.headers.get(chat.TOKEN_HEADER)
            )
        prepared = await prepare_turn(
            request.app.state.database,
            request.app.state.live_runtime,
            widget.organization_id,
            conversation_id,
            content,
        )
    except AppError as error:
        return _refused(error, allowed)

    async def stream() -> AsyncIterator[bytes]:
        async for event in prepared.events():
            yield b"event: " + event.event.encode() + b"\ndata: " + orjson.dumps(event.data())
            yield b"\n\n"

    response = StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    _chat_cors(response, origin)
    return response


script_router = APIRouter(tags=["web widgets"])
WIDGET_JS = Path(__file__).parent / "static" / "widget.js"


@script_router.get("/widget.js", include_in_schema=False)
async def widget_script(request: Request) -> Response:
    """The embeddable chat bubble (vendored in the package; its version is in its first line).
    Cacheable for an hour, revalidated by ETag."""
    body = WIDGET_JS.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
