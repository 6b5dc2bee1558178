from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, select

from callplane.db.repository import OrgRepository
from callplane.kit.filters import like_pattern
from callplane.kit.pagination import paginate
from callplane.models import PhoneNumber


class PhoneNumberRepository(OrgRepository[PhoneNumber]):
    model = PhoneNumber

    async def get_by_number(self, number: str, *, for_update: bool = False) -> PhoneNumber | None:
        statement = self.scoped().where(PhoneNumber.phone_number == number)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def lock_many(self, numbers: Iterable[str]) -> dict[str, PhoneNumber]:
        """Lock the given numbers of this org in a fixed (sorted) order, so concurrent publishes
        touching overlapping numbers queue up instead of deadlocking."""
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        statement = (
            self.scoped()
            .where(PhoneNumber.phone_number.in_(wanted))
            .order_by(PhoneNumber.phone_number)
            .with_for_update()
        )
        return {row.phone_number: row for row in (await self.session.scalars(statement)).all()}

    async def for_agent(self, agent_id: uuid.UUID, *, lock: bool = False) -> Sequence[PhoneNumber]:
        """The numbers with a slot holding the agent, by number: locked in that order (like
        `lock_many`) when `lock`, so a rollback queues behind overlapping publishes."""
        statement = (
            self.scoped()
            .where(
                or_(
                    PhoneNumber.inbound_agent_id == agent_id,
                    PhoneNumber.outbound_agent_id == agent_id,
                )
            )
            .order_by(PhoneNumber.phone_number)
        )
        if lock:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).all()

    async def list(
        self,
        *,
        phone_number: str | None,
        agent_id: uuid.UUID | None,
        assigned: bool | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[PhoneNumber], str | None]:
        statement = self.scoped()
        if phone_number:
            statement = statement.where(
                PhoneNumber.phone_number.like(like_pattern(phone_number), escape="\\")
            )
        if agent_id is not None:
            statement = statement.where(
                or_(
                    PhoneNumber.inbound_agent_id == agent_id,
                    PhoneNumber.outbound_agent_id == agent_id,
                )
            )
        if assigned is not None:
            is_assigned = or_(
                PhoneNumber.inbound_agent_version_id.is_not(None),
                PhoneNumber.outbound_agent_version_id.is_not(None),
            )
            statement = statement.where(is_assigned if assigned else ~is_assigned)
        return await paginate(
            self.session,
            statement,
            (PhoneNumber.created_at, PhoneNumber.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def registered_anywhere(self, number: str) -> bool:
        """Numbers are globally unique (one owner), so this one check is deliberately unscoped."""
        statement = select(exists().where(PhoneNumber.phone_number == number))
        return bool(await self.session.scalar(statement))

    async def first_free(self, *, or_held_by: uuid.UUID | None = None) -> PhoneNumber | None:
        """The oldest number no version holds. With `or_held_by` (a version id), a number that
        version already holds comes first: a step re-run after a crash finds the number its
        first run took (and published to) rather than reporting none free."""
        free = PhoneNumber.inbound_agent_version_id.is_(
            None
        ) & PhoneNumber.outbound_agent_version_id.is_(None)
        if or_held_by is not None:
            held = await self._first(
                or_(
                    PhoneNumber.inbound_agent_version_id == or_held_by,
                    PhoneNumber.outbound_agent_version_id == or_held_by,
                )
            )
            if held is not None:
                return held
        return await self._first(free)

    async def _first(self, condition: ColumnElement[bool]) -> PhoneNumber | None:
        statement = (
            self.scoped()
            .where(condition)
            .order_by(PhoneNumber.created_at)
            .limit(1)
            .with_for_update()
        )
        return (await self.session.scalars(statement)).first()
