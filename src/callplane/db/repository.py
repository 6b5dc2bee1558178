"""Tenant scoping in exactly one place: every org-owned query starts from `self.scoped()`."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

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
