"""Tenant scoping in exactly one place: every org-owned query starts from `self.scoped()`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

M = TypeVar("M")


class OrgRepository(Generic[M]):
    """Base of repositories for org-owned tables; another org's rows are simply not there."""

    model: ClassVar[Any]

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id

    def scoped(self) -> Select[M]:
        return select(self.model).where(self.model.organization_id == self.organization_id)

    async def get(self, id_: uuid.UUID, *, for_update: bool = False) -> M | None:
        statement = self.scoped().where(self.model.id == id_)
        if for_update:
            statement = statement.with_for_update()
        result: M | None = (await self.session.scalars(statement)).one_or_none()
        return result

    def add(self, obj: M) -> M:
        if getattr(obj, "organization_id", None) is None:
            obj.organization_id = self.organization_id  # type: ignore[attr-defined]
        self.session.add(obj)
        return obj

    async def delete(self, obj: M) -> None:
        await self.session.delete(obj)


async def delete_oldest(
    connection: AsyncConnection, model: Any, created_before: datetime, limit: int
) -> int:
    """Housekeeping, across organizations: deletes up to `limit` of `model`'s rows created before
    `created_before`, oldest first, and returns how many. Rows another process is deleting are
    skipped (PostgreSQL), not waited for."""
    key = model.__table__.primary_key.columns
    oldest = (
        select(*key)
        .where(model.created_at < created_before)
        .order_by(model.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await connection.execute(delete(model).where(tuple_(*key).in_(oldest)))
    return int(getattr(result, "rowcount", 0))
