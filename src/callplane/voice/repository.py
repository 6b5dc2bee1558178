from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.models import AgentVersion, PhoneNumber, TelephonyCredential


class TelephonyRepository(OrgRepository[TelephonyCredential]):
    model = TelephonyCredential

    async def for_provider(self, provider: str) -> TelephonyCredential | None:
        statement = self.scoped().where(TelephonyCredential.provider == provider)
        return (await self.session.scalars(statement)).one_or_none()


async def number_owner(session: AsyncSession, number: str) -> PhoneNumber | None:
    """The registered number, whoever owns it: numbers are globally unique, and the carrier's
    webhook names only the number (the owner is what tells whose credentials check it)."""
    statement = select(PhoneNumber).where(PhoneNumber.phone_number == number)
    return (await session.scalars(statement)).one_or_none()


async def slot_version(session: AsyncSession, number: PhoneNumber) -> AgentVersion | None:
    """The agent version in the number's inbound slot, like `GET /core/routing/resolve`, read in
    the webhook's own session: routing's lookup takes a second pooled connection, and a burst of
    calls each holding one while waiting for another exhausted a small pool (seen on PostgreSQL
    with 20 calls at once)."""
    if number.inbound_agent_version_id is None:
        return None
    statement = select(AgentVersion).where(
        AgentVersion.id == number.inbound_agent_version_id,
        AgentVersion.organization_id == number.organization_id,
    )
    return (await session.scalars(statement)).one_or_none()
