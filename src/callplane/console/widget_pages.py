"""`/console/agents/{id}/widgets`: an agent's web widgets (create, embed tag, domains, delete).

The same service and scopes as `/core/web-widgets`: `web_widgets:read` (or manage) to see them,
`web_widgets:manage` to change them; every write checks the session's CSRF token.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from callplane.agents.service import AgentService
from callplane.auth.scopes import Scope
from callplane.console.web import (
    ConsoleRoute,
    acting,
    field_errors,
    page_uuid,
    render,
    require,
    signed_in,
    transaction,
)
from callplane.errors import AppError
from callplane.models import WebWidget
from callplane.versions.repository import VersionRepository
from callplane.widgets.errors import WidgetNotFound
from callplane.widgets.repository import WidgetRepository
from callplane.widgets.schemas import WidgetCreate, WidgetUpdate
from callplane.widgets.service import WidgetService

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

READ = (Scope.WEB_WIDGETS_READ.value, Scope.WEB_WIDGETS_MANAGE.value)
MANAGE = Scope.WEB_WIDGETS_MANAGE.value


def domains_of(raw: str) -> list[str]:
    """Domains typed one a line, or separated by commas or spaces."""
    return [part for part in raw.replace(",", " ").split() if part]


def embed_tag(request: Request, widget_id: uuid.UUID) -> str:
    base = str(request.base_url).rstrip("/")
    return f'<script src="{base}/widget.js" data-widget-id="{widget_id}" async></script>'


async def _page(
    request: Request,
    agent_id: str,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    errors_for: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    subject = await signed_in(request)
    require(subject, *READ)
    async with transaction(request, write=False) as session:
        agent = await AgentService(session, subject.organization_id).get(page_uuid(agent_id))
        widgets = await WidgetRepository(session, subject.organization_id).for_agent(agent.id)
        versions = list(
            await VersionRepository(session, subject.organization_id).summaries(agent.id)
        )
    numbers = {v.id: v.version for v in versions}
    published = [v for v in versions if v.published]
    return render(
        request,
        "widgets.html",
        {
            "agent": agent,
            "widgets": [
                {
                    "row": w,
                    "version": numbers.get(w.agent_version_id),
                    "embed": embed_tag(request, w.id),
                }
                for w in widgets
            ],
            "published_versions": published,
            "values": values or {},
            "error": error,
            "errors_for": errors_for or {},
        },
        status=status,
    )


@router.get("/agents/{agent_id}/widgets")
async def widgets_page(request: Request, agent_id: str) -> Response:
    return await _page(request, agent_id)


@router.post("/agents/{agent_id}/widgets")
async def create_widget(request: Request, agent_id: str) -> Response:
    subject, fields = await acting(request, MANAGE)
    values: dict[str, Any] = {
        "agent_id": page_uuid(agent_id),
        "agent_version_id": fields.get("agent_version_id", ""),
        "domains": domains_of(fields.get("domains", "")),
        "published": fields.get("published") == "on",
    }
    try:
        body = WidgetCreate.model_validate(values)
    except ValidationError as invalid:
        found = field_errors(invalid)
        errors_for = {key.split(".")[0]: message for key, message in found.items()}
        return await _page(request, agent_id, values=fields, errors_for=errors_for, status=422)
    try:
        async with transaction(request, write=True) as session:
            widget = await WidgetService(session, subject.organization_id).create(body)
    except AppError as refused:
        if refused.status == 404:
            raise
        return await _page(
            request, agent_id, values=fields, error=refused.detail, status=refused.status
        )
    return RedirectResponse(
        f"/console/agents/{agent_id}/widgets?created={widget.id}#w-{widget.id}", status_code=303
    )


async def _widget(session: Any, organization_id: uuid.UUID, agent_id: str, widget_id: str) -> Any:
    """The widget, only through its own agent (another agent's or org's widget is 404)."""
    widget: WebWidget = await WidgetService(session, organization_id).get(page_uuid(widget_id))
    if widget.agent_id != page_uuid(agent_id):
        raise WidgetNotFound()
    return widget


@router.post("/agents/{agent_id}/widgets/{widget_id}")
async def update_widget(request: Request, agent_id: str, widget_id: str) -> Response:
    subject, fields = await acting(request, MANAGE)
    try:
        body = WidgetUpdate.model_validate(
            {
                "domains": domains_of(fields.get("domains", "")),
                "published": fields.get("published") == "on",
            }
        )
    except ValidationError as invalid:
        message = "; ".join(field_errors(invalid).values())
        return await _page(request, agent_id, error=f"Domains: {message}", status=422)
    async with transaction(request, write=True) as session:
        widget = await _widget(session, subject.organization_id, agent_id, widget_id)
        await WidgetService(session, subject.organization_id).update(widget.id, body)
    return RedirectResponse(
        f"/console/agents/{agent_id}/widgets?saved={widget_id}#w-{widget_id}", status_code=303
    )


@router.post("/agents/{agent_id}/widgets/{widget_id}/delete")
async def delete_widget(request: Request, agent_id: str, widget_id: str) -> Response:
    subject, _ = await acting(request, MANAGE)
    async with transaction(request, write=True) as session:
        widget = await _widget(session, subject.organization_id, agent_id, widget_id)
        await WidgetService(session, subject.organization_id).delete(widget.id)
    return RedirectResponse(f"/console/agents/{agent_id}/widgets?deleted=1", status_code=303)
