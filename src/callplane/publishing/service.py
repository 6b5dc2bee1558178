"""Publishing: mark a version published, make it live, and write phone-number slots — atomically.

Rollback is the same move aimed the other way: an earlier published version goes live again and
every slot holding any version of the agent follows it. The slots themselves are written through
`phone_numbers.slots`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agenttests import gate as tests_gate
from callplane.audit import recorder as audit
from callplane.models import Agent, AgentVersion
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.phone_numbers.repository import NumberRow, PhoneNumberRepository
from callplane.phone_numbers.schemas import Slot
from callplane.phone_numbers.slots import SLOTS, Holder, SlotWrites, holder
from callplane.publishing.errors import (
    InvalidPhoneNumbers,
    PhoneNumbersNotRegistered,
    VersionNotPublished,
)
from callplane.publishing.schemas import Direction, PublishRequest, RollbackRead, SlotChange
from callplane.versions.service import VersionService, check_publishable


class Published(NamedTuple):
    """A number a publish addressed: its row as now written, and what each addressed slot held
    just before (`PublishedPhoneNumber` once encoded)."""

    record: NumberRow
    previous: dict[Slot, Holder | None]


class PublishingService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.versions = VersionService(session, organization_id)
        self.phone_numbers = PhoneNumberRepository(session, organization_id)

    async def publish(
        self, agent_id: uuid.UUID, number: int, body: PublishRequest
    ) -> list[Published]:
        """Publish version `number`, make it live, and write the slots `body` addresses.

        Answers the numbers addressed, each with what its addressed slots held before."""
        assign = _normalize(body.phone_numbers or [])
        unassign = _normalize(body.unassign_phone_numbers or [])
        both = sorted(set(assign) & set(unassign))
        if both:
            raise InvalidPhoneNumbers(f"Numbers both assigned and unassigned: {', '.join(both)}.")

        # The agent's lock serializes publishes of the agent.
        agent, version = await self.versions.lock_with_agent(agent_id, number)
        check_publishable(version)
        await tests_gate.check(self.session, self.organization_id, version)  # agenttests

        records = await self.phone_numbers.lock_many([*assign, *unassign])
        missing = [n for n in [*assign, *unassign] if n not in records]
        if missing:
            raise PhoneNumbersNotRegistered(
                f"Not registered in this organization: {', '.join(missing)}."
            )

        slots = _slots(body.direction)
        previous = {
            phone: {slot: holder(record, slot) for slot in slots}
            for phone, record in records.items()
        }
        writes = SlotWrites(self.session, self.organization_id)
        first_publish = _go_live(agent, version, writes.now)
        for slot in slots:
            for phone in assign:
                writes.assign(records[phone], slot, version)
            for phone in unassign:
                writes.clear(records[phone], slot, agent_id)
        await self.session.flush()
        await writes.record_changes(
            audit.Entry(
                "agent.version.published",
                "agent",
                agent_id,
                {"version": number, "first_publish": first_publish, "direction": body.direction},
            )
        )
        return [Published(records[n], previous[n]) for n in [*assign, *unassign]]

    async def rollback(self, agent_id: uuid.UUID, number: int) -> RollbackRead:
        """Make `number` live again and move every slot holding any version of the agent onto it.

        Locks in publish's order — the agent row (so publishes and rollbacks of one agent queue),
        the version, then the agent's numbers sorted — so it cannot deadlock against a publish.
        Numbers another agent's publish takes meanwhile are re-checked by PostgreSQL once their
        lock is granted and skipped when they no longer hold this agent.
        """
        agent, version = await self.versions.lock_with_agent(agent_id, number)
        if not version.published:
            raise VersionNotPublished()
        held = await self.phone_numbers.lock_held_by(agent_id)

        previous_live_version = agent.live_version
        writes = SlotWrites(self.session, self.organization_id)
        _go_live(agent, version, writes.now)
        changed: list[SlotChange] = []
        for record in held:
            for slot in SLOTS:
                before = holder(record, slot)
                if (
                    before is not None
                    and before.agent_id == agent_id
                    and writes.assign(record, slot, version)
                ):
                    changed.append(_moved(record, slot, before, version))
        await self.session.flush()
        await writes.record_changes(
            audit.Entry(
                "agent.version.published",
                "agent",
                agent_id,
                {
                    "version": number,
                    "first_publish": False,
                    "rollback": True,
                    "previous_live_version": previous_live_version,
                },
            )
        )
        return RollbackRead(
            agent_id=agent_id,
            version=version.version,
            agent_version_id=version.id,
            previous_live_version=previous_live_version,
            changed=changed,
        )


def _slots(direction: Direction) -> tuple[Slot, ...]:
    return SLOTS if direction == "both" else (direction,)


# Parsing and validating a number is ~0.3 ms of `phonenumbers` work, and a publish names up to
# hundreds of numbers, mostly the same ones each time: memoized (a pure function; failures are
# not cached).
_e164 = functools.lru_cache(maxsize=8192)(to_e164)


def _normalize(raw_numbers: Iterable[str]) -> list[str]:
    numbers: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    for raw in raw_numbers:
        try:
            number = _e164(raw) if isinstance(raw, str) else to_e164(raw)
        except InvalidPhoneNumber:
            bad.append(raw)
            continue
        if number not in seen:
            seen.add(number)
            numbers.append(number)
    if bad:
        raise InvalidPhoneNumbers(f"Not valid E.164 phone numbers: {', '.join(map(repr, bad))}.")
    return numbers


def _go_live(agent: Agent, version: AgentVersion, now: datetime) -> bool:
    """Mark the version published (stamping `published_at` the first time) and make it the
    agent's live version; say whether this was its first publish."""
    first_publish = not version.published
    if first_publish:
        version.published = True
        version.published_at = now
        version.revision += 1
    agent.live_version_id = version.id
    agent.live_version = version.version
    agent.revision += 1
    return first_publish


def _moved(record: NumberRow, slot: Slot, before: Holder, version: AgentVersion) -> SlotChange:
    return SlotChange(
        phone_number=record.phone_number,
        direction=slot,
        from_version=before.version,
        to_version=version.version,
    )
