from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.kit.pagination import paginate
from callplane.models import ApiKey, Organization, User


class ApiKeyRepository(OrgRepository[ApiKey]):
    model = ApiKey

    async def list(self, *, limit: int, cursor: str | None) -> tuple[list[ApiKey], str | None]:
        """Newest first, a keyset page at a time, like every other list."""
        return await paginate(
            self.session,
            self.scoped(),
            (ApiKey.created_at, ApiKey.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )


async def organization_exists(session: AsyncSession) -> bool:
    return (await session.scalar(select(Organization.id).limit(1))) is not None


async def list_organizations(session: AsyncSession) -> Sequence[Organization]:
    """Every organization, oldest first (an operator's view: `callplane orgs list`)."""
    statement = select(Organization).order_by(Organization.created_at, Organization.id)
    return (await session.scalars(statement)).all()


async def get_organization(session: AsyncSession, id_: uuid.UUID) -> Organization | None:
    return await session.get(Organization, id_)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.scalars(select(User).where(User.email == email))).one_or_none()
