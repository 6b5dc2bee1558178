from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.models import PhoneNumber, TelephonyCredential


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
