"""Credential lookups for authentication (deliberately not org-scoped: they establish the org)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.models import ApiKey, Membership, PersonalAccessToken


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def get_token(session: AsyncSession, token_id: uuid.UUID) -> PersonalAccessToken | None:
    return await session.get(PersonalAccessToken, token_id)


async def get_role(
    session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID
) -> str | None:
    statement = select(Membership.role).where(
        Membership.user_id == user_id, Membership.organization_id == organization_id
    )
    return (await session.execute(statement)).scalar_one_or_none()
