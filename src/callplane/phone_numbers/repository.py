from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, exists, or_, select

from callplane.db import dialect
from callplane.db.repository import OrgRepository
from callplane.kit.filters import like_pattern
from callplane.kit.pagination import paginate
from callplane.models import PhoneNumber


@dataclass(slots=True)
class NumberRow:
    """A phone number's row as the slot writes read and change it: a plain object, not an ORM
    one. A publish locks, rewrites and answers 100 numbers, and loading and keeping 100 ORM
    objects in step with a grouped UPDATE was a large part of its time (issue 15)."""

    id: uuid.UUID
    phone_number: str
    label: str | None
    outbound_shareable: bool
    inbound_agent_id: uuid.UUID | None
    inbound_agent_version_id: uuid.UUID | None
    inbound_version: int | None
    outbound_agent_id: uuid.UUID | None
    outbound_agent_version_id: uuid.UUID | None
    outbound_version: int | None
    created_at: datetime
    updated_at: datetime


# Core, not ORM attributes: the lock is a plain SELECT, with no ORM compile state per call.
NUMBERS = cast(Table, PhoneNumber.__table__)  # declared a FromClause; it is the Table
_ROW_COLUMNS = [NUMBERS.c[field.name] for field in fields(NumberRow)]


class PhoneNumberRepository(OrgRepository[PhoneNumber]):
    model = PhoneNumber

    async def get_by_number(self, number: str, *, for_update: bool = False) -> PhoneNumber | None:
        statement = self.scoped().where(PhoneNumber.phone_number == number)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def lock_many(self, numbers: Iterable[str]) -> dict[str, NumberRow]:
        """Lock the given numbers of this org in a fixed (sorted) order, so concurrent publishes
        touching overlapping numbers queue up instead of deadlocking."""
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        rows = await self._lock(dialect.one_of(self.session, NUMBERS.c.phone_number, wanted))
        return {row.phone_number: row for row in rows}

    async def lock_held_by(self, agent_id: uuid.UUID) -> list[NumberRow]:
        """Lock the numbers with a slot holding the agent, by number (the order of `lock_many`,
        so a rollback or an agent's deletion queues behind overlapping publishes)."""
        return await self._lock(_holds(agent_id))

    async def for_agent(self, agent_id: uuid.UUID) -> Sequence[PhoneNumber]:
        """The numbers with a slot holding the agent, by number."""
        statement = self.scoped().where(_holds(agent_id)).order_by(PhoneNumber.phone_number)
        return (await self.session.scalars(statement)).all()

    async def _lock(self, condition: ColumnElement[bool]) -> list[NumberRow]:
        """The matching numbers' rows, locked in phone-number order, as plain `NumberRow`s."""
        statement = (
            select(*_ROW_COLUMNS)
            .where(NUMBERS.c.organization_id == self.organization_id, condition)
            .order_by(NUMBERS.c.phone_number)
            .with_for_update()
        )
        return [NumberRow(*row) for row in await self.session.execute(statement)]

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
            statement = statement.where(_holds(agent_id))
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


def _holds(agent_id: uuid.UUID) -> ColumnElement[bool]:
    """A slot of the number holds a version of the agent."""
    return or_(NUMBERS.c.inbound_agent_id == agent_id, NUMBERS.c.outbound_agent_id == agent_id)
