"""`/core/web-widgets` (CRUD) and the credential-free public read for embedding pages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from callplane.agents.errors import AgentNotFound
from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
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
