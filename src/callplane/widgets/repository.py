from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.kit.pagination import paginate
from callplane.models import WebWidget


class WidgetRepository(OrgRepository[WebWidget]):
    model = WebWidget

    async def for_agent(self, agent_id: uuid.UUID) -> Sequence[WebWidget]:
        statement = (
            self.scoped().where(WebWidget.agent_id == agent_id).order_by(WebWidget.created_at)
        )
        return (await self.session.scalars(statement)).all()

    async def list(
        self, *, agent_id: uuid.UUID | None, published: bool | None, limit: int, cursor: str | None
    ) -> tuple[list[WebWidget], str | None]:
        statement = self.scoped()
        if agent_id is not None:
            statement = statement.where(WebWidget.agent_id == agent_id)
        if published is not None:
            statement = statement.where(WebWidget.published == published)
        return await paginate(
            self.session,
            statement,
            (WebWidget.created_at, WebWidget.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )


async def get_published(session: AsyncSession, widget_id: uuid.UUID) -> WebWidget | None:
    """The public read: any organization's widget, but only once it is published."""
    statement = select(WebWidget).where(WebWidget.id == widget_id, WebWidget.published.is_(True))
    return (await session.scalars(statement)).one_or_none()
