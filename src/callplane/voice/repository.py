from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.engine import Database
from callplane.db.repository import OrgRepository
from callplane.models import AgentVersion, PhoneNumber, TelephonyCredential, UsedCallToken


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


async def use_token(database: Database, token_id: str, expires_at: datetime) -> bool:
    """Record that a call token was used; False if it already was, by any process on this
    database. One INSERT committing on its own: the primary key decides, so of two concurrent
    first uses exactly one inserts (the other waits for it, then hits the unique key)."""
    try:
        async with database.autocommit() as connection:
            await connection.execute(
                insert(UsedCallToken).values(token_id=token_id, expires_at=expires_at)
            )
    except IntegrityError:
        return False
    return True


async def forget_expired_tokens(database: Database, now: datetime) -> int:
    """Delete the rows of tokens that have expired (a replay of one fails its signature check
    anyway); one indexed DELETE committing on its own. How many went."""
    async with database.autocommit() as connection:
        result = await connection.execute(
            delete(UsedCallToken).where(UsedCallToken.expires_at < now)
        )
    return int(getattr(result, "rowcount", 0))
