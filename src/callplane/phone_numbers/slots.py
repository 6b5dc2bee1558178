"""A phone number's two agent slots, and the one place that writes them.

Each slot (inbound, outbound) holds one agent version as three columns written together: the
agent id, the version id and the version number (kept beside the id so "numbers of this agent" is
an indexed lookup and reads need no join). Publishing, rollback and agent deletion all write slots
through a `SlotWrites`, which stamps `updated_at`, remembers what it changed, and records one
`phone_number.assignment_changed` per number changed.

Locking is the caller's, in one order everywhere: the agent row first, then the numbers sorted
(`PhoneNumberRepository.lock_many`, `lock_held_by`), so concurrent publishes, rollbacks and
deletions queue up instead of deadlocking. The locked numbers are plain `NumberRow`s, not ORM
objects: a write changes the row in hand and the database, nothing else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.db import dialect
from callplane.db.types import utcnow
from callplane.models import AgentVersion, PhoneNumber
from callplane.phone_numbers.repository import NUMBERS, NumberRow, PhoneNumberRepository
from callplane.phone_numbers.schemas import Slot

SLOTS: tuple[Slot, ...] = ("inbound", "outbound")

# A slot's three columns: (agent id, agent version id, version number); all None when empty.
Columns = tuple[uuid.UUID | None, uuid.UUID | None, int | None]
EMPTY: Columns = (None, None, None)


class Holder(NamedTuple):
    """The agent version a slot holds."""

    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    version: int


def holder(record: PhoneNumber | NumberRow, slot: Slot) -> Holder | None:
    """What the slot holds, or None when it is empty."""
    agent_id, version_id, version = _read(record, slot)
    if agent_id is None or version_id is None or version is None:
        return None
    return Holder(agent_id, version_id, version)


class SlotWrites:
    """The slot writes of one operation (a publish, a rollback, an agent's deletion), on rows the
    caller has locked, and the audit events they owe."""

    def __init__(
        self, session: AsyncSession, organization_id: uuid.UUID, now: datetime | None = None
    ):
        self.session = session
        self.organization_id = organization_id
        self.now = now or utcnow()
        self._changed: dict[str, tuple[NumberRow, list[Slot]]] = {}
        # Writes not yet sent, grouped by what they write: one UPDATE per group (`apply`).
        self._pending: dict[tuple[Slot, Columns], list[uuid.UUID]] = {}

    def assign(self, record: NumberRow, slot: Slot, version: AgentVersion) -> bool:
        """Point the slot at `version`; say whether that changed it."""
        return self._write(record, slot, (version.agent_id, version.id, version.version))

    def clear(self, record: NumberRow, slot: Slot, agent_id: uuid.UUID) -> bool:
        """Empty the slot if it holds any version of `agent_id`; say whether it did."""
        return _read(record, slot)[0] == agent_id and self._write(record, slot, EMPTY)

    async def clear_agent(self, agent_id: uuid.UUID) -> None:
        """Empty every slot holding any version of the agent (it is being deleted).

        The numbers are locked in phone-number order, the order publishing locks them in; on
        PostgreSQL a number another agent's publish took meanwhile is re-checked once its lock is
        granted and no longer matches."""
        repository = PhoneNumberRepository(self.session, self.organization_id)
        for record in await repository.lock_held_by(agent_id):
            for slot in SLOTS:
                self.clear(record, slot, agent_id)
        await self.apply()

    async def apply(self) -> None:
        """Send the slot writes made so far: one UPDATE per (slot, new value), not one per number
        (publishing to 100 numbers was 100 ORM updates; issue 15)."""
        pending, self._pending = self._pending, {}
        for (slot, columns), ids in pending.items():
            agent_id, version_id, version = columns
            values = (
                {
                    "inbound_agent_id": agent_id,
                    "inbound_agent_version_id": version_id,
                    "inbound_version": version,
                }
                if slot == "inbound"
                else {
                    "outbound_agent_id": agent_id,
                    "outbound_agent_version_id": version_id,
                    "outbound_version": version,
                }
            )
            statement = (
                update(NUMBERS)
                .where(
                    NUMBERS.c.organization_id == self.organization_id,
                    dialect.one_of(self.session, NUMBERS.c.id, ids),
                )
                .values(**values, updated_at=self.now)
            )
            await self.session.execute(statement)

    def changes(self) -> list[audit.Entry]:
        """One `phone_number.assignment_changed` per number changed, in the order they changed:
        what each changed slot holds now (the previous holder is in the number's earlier
        events). Numbers changed alike share one payload (`audit.record_many` converts it
        once)."""
        payloads: dict[tuple[tuple[Slot, ...], tuple[Columns, ...]], dict[str, object]] = {}
        entries = []
        for number, (record, slots) in self._changed.items():
            held = tuple(_read(record, slot) for slot in slots)
            payload = payloads.get((tuple(slots), held))
            if payload is None:
                payload = payloads[(tuple(slots), held)] = {
                    slot: {"agent_id": agent_id, "version": version}
                    for slot, (agent_id, _, version) in zip(slots, held, strict=True)
                }
            entries.append(
                audit.Entry("phone_number.assignment_changed", "phone_number", number, payload)
            )
        return entries

    async def record_changes(self, *first: audit.Entry) -> None:
        """Send what is pending, then record `first` and the `changes()` in one INSERT."""
        await self.apply()
        await audit.record_many(self.session, self.organization_id, [*first, *self.changes()])

    def _write(self, record: NumberRow, slot: Slot, columns: Columns) -> bool:
        """Write a slot, stamping `updated_at` only when something changed: the row in hand at
        once, the database by `apply`, grouped, with the same stamp."""
        if _read(record, slot) == columns:
            return False
        for name, value in zip(_COLUMNS[slot], columns, strict=True):
            setattr(record, name, value)
        record.updated_at = self.now
        self._pending.setdefault((slot, columns), []).append(record.id)
        self._changed.setdefault(record.phone_number, (record, []))[1].append(slot)
        return True


_COLUMNS: dict[Slot, tuple[str, str, str]] = {
    "inbound": ("inbound_agent_id", "inbound_agent_version_id", "inbound_version"),
    "outbound": ("outbound_agent_id", "outbound_agent_version_id", "outbound_version"),
}


def _read(record: PhoneNumber | NumberRow, slot: Slot) -> Columns:
    if slot == "inbound":
        return (record.inbound_agent_id, record.inbound_agent_version_id, record.inbound_version)
    return (record.outbound_agent_id, record.outbound_agent_version_id, record.outbound_version)
