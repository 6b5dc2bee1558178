from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.audit import recorder as audit
from callplane.db.types import new_id
from callplane.models import WebWidget
from callplane.versions.repository import VersionRepository
from callplane.widgets.errors import VersionNotPublishedForWidget, WidgetNotFound
from callplane.widgets.repository import WidgetRepository
from callplane.widgets.schemas import WidgetCreate, WidgetUpdate


class WidgetService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.widgets = WidgetRepository(session, organization_id)
        self.versions = VersionRepository(session, organization_id)

    async def get(self, widget_id: uuid.UUID, *, lock: bool = False) -> WebWidget:
        widget = await self.widgets.get(widget_id, for_update=lock)
        if widget is None:
            raise WidgetNotFound()
        return widget

    async def _check_version(self, agent_id: uuid.UUID, version_id: uuid.UUID) -> None:
        """The agent is known to exist here (locked by `create`; held by the widget on update)."""
        version = await self.versions.get(version_id)
        if version is None or version.agent_id != agent_id:
            raise VersionNotPublishedForWidget("agent_version_id is not a version of this agent.")
        if not version.published:
            raise VersionNotPublishedForWidget()

    async def create(self, body: WidgetCreate, *, widget_id: uuid.UUID | None = None) -> WebWidget:
        # The agent's row lock orders this against a concurrent delete of the agent, so the
        # widget is not inserted for an agent that is going away (a foreign-key error, a 500).
        agents = AgentRepository(self.session, self.organization_id)
        if await agents.get(body.agent_id, for_update=True) is None:
            raise AgentNotFound()
        await self._check_version(body.agent_id, body.agent_version_id)
        widget = self.widgets.add(
            WebWidget(
                id=widget_id or new_id(),
                agent_id=body.agent_id,
                agent_version_id=body.agent_version_id,
                domains=body.domains,
                published=body.published,
                config=body.config,
            )
        )
        await self.session.flush()
        await self._record("web_widget.created", widget, {"agent_id": widget.agent_id})
        return widget

    async def update(self, widget_id: uuid.UUID, body: WidgetUpdate) -> WebWidget:
        widget = await self.get(widget_id, lock=True)
        if body.agent_version_id is not None:
            await self._check_version(widget.agent_id, body.agent_version_id)
        changes = audit.update_from(widget, body)
        await self.session.flush()
        await self._record("web_widget.updated", widget, changes)
        return widget

    async def delete(self, widget_id: uuid.UUID) -> None:
        widget = await self.get(widget_id, lock=True)
        await self.widgets.delete(widget)
        await self._record("web_widget.deleted", widget, {"agent_id": widget.agent_id})

    async def _record(self, action: str, widget: WebWidget, changes: dict[str, object]) -> None:
        await audit.record(
            self.session, self.organization_id, action, "web_widget", widget.id, changes
        )


def origin_allowed(origin: str, domains: list[str]) -> bool:
    """Empty `domains` allows any origin; `*.example.com` allows its subdomains (not itself).

    A domain with a port (`localhost:3000`, `*.example.com:8443`) matches that port only; a
    domain without one matches any port.
    """
    if not (origin.isascii() and origin.isprintable()):
        return False  # no origin holds such bytes, and an allowed one is echoed in a header
    if not domains:
        return True
    try:  # the Origin header is client input: a bad port or bracket must not be a 500
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    host_port = f"{host}:{port}" if port else host
    for domain in domains:
        if domain.startswith("*."):
            suffix = domain[1:]  # ".example.com" or ".example.com:8443"
            if (host_port if ":" in suffix else host).endswith(suffix):
                return True
        elif domain in (host, host_port):
            return True
    return False
