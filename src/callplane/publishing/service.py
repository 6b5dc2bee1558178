"""Publishing: mark a version published, make it live, and write phone-number slots — atomically.

Rollback is the same move aimed the other way: an earlier published version goes live again and
every slot holding any version of the agent follows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.errors import BadRequest, NotFound, UnprocessableRequest
from callplane.models import Agent, AgentVersion, PhoneNumber
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.publishing.schemas import Direction, PublishRequest, Slot
from callplane.versions.service import VersionService, check_publishable

# What a slot holds: (agent id, agent version id, version number), or None when it is empty.
Holder = tuple[uuid.UUID, uuid.UUID, int] | None
SLOTS: tuple[Slot, ...] = ("inbound", "outbound")
SLOT_FIELDS = ("agent_id", "agent_version_id", "version")


class PhoneNumbersNotRegistered(NotFound):
    code = "phone_numbers_not_registered"
    default_detail = "Some phone numbers are not registered in this organization."


class InvalidPhoneNumbers(UnprocessableRequest):
    code = "invalid_phone_numbers"


class VersionNotPublished(BadRequest):
    code = "version_not_published"
    default_detail = (
        "Rollback goes back to a version that has been published before, and this one never "
        "was. To put a draft live, publish it (POST /core/agents/{id}/versions/{version}/publish)."
    )


@dataclass(frozen=True)
class Touched:
    """A number a publish addressed, and what each addressed slot held before it."""

    record: PhoneNumber
    previous: dict[Slot, Holder]


@dataclass(frozen=True)
class Move:
    phone_number: str
    slot: Slot
    from_version: int
    to_version: int


@dataclass(frozen=True)
class RolledBack:
    version: AgentVersion
    previous_live_version: int | None
    moves: list[Move]


def _slots(direction: Direction) -> tuple[Slot, ...]:
    return SLOTS if direction == "both" else (direction,)


def _normalize(raw_numbers: Iterable[str]) -> list[str]:
    numbers: list[str] = []
    bad: list[str] = []
    for raw in raw_numbers:
        try:
            number = to_e164(raw)
        except InvalidPhoneNumber:
            bad.append(raw)
            continue
        if number not in numbers:
            numbers.append(number)
    if bad:
        raise InvalidPhoneNumbers(f"Not valid E.164 phone numbers: {', '.join(map(repr, bad))}.")
    return numbers


async def publish(
    session: AsyncSession,
    organization_id: uuid.UUID,
    agent_id: uuid.UUID,
    number: int,
    body: PublishRequest,
) -> list[Touched]:
    assign = _normalize(body.phone_numbers or [])
    unassign = _normalize(body.unassign_phone_numbers or [])
    both = sorted(set(assign) & set(unassign))
    if both:
        raise InvalidPhoneNumbers(f"Numbers both assigned and unassigned: {', '.join(both)}.")

    versions = VersionService(session, organization_id)
    agent = await versions.agent(agent_id, lock=True)  # serializes publishes of this agent
    version = await versions.get(agent_id, number, lock=True)
    check_publishable(version)

    records = await PhoneNumberRepository(session, organization_id).lock_many([*assign, *unassign])
    missing = [n for n in [*assign, *unassign] if n not in records]
    if missing:
        raise PhoneNumbersNotRegistered(
            f"Not registered in this organization: {', '.join(missing)}."
        )

    slots = _slots(body.direction)
    previous = {
        phone: {slot: _holder(record, slot) for slot in slots} for phone, record in records.items()
    }
    now = utcnow()
    first_publish = _go_live(agent, version, now)
    changed: dict[str, list[Slot]] = {}
    for slot in slots:
        for phone in assign:
            if _fill(records[phone], slot, version, now):
                changed.setdefault(phone, []).append(slot)
        for phone in unassign:
            if getattr(records[phone], f"{slot}_agent_id") == agent_id:
                _clear(records[phone], slot, now)
                changed.setdefault(phone, []).append(slot)
    await session.flush()
    await audit.record(
        session,
        organization_id,
        "agent.version.published",
        "agent",
        agent_id,
        {"version": number, "first_publish": first_publish, "direction": body.direction},
    )
    await _record_assignments(session, organization_id, records, changed)
    return [Touched(records[n], previous[n]) for n in [*assign, *unassign]]


async def rollback(
    session: AsyncSession, organization_id: uuid.UUID, agent_id: uuid.UUID, number: int
) -> RolledBack:
    """Make `number` live again and move every slot holding any version of the agent onto it.

    Locks in publish's order — the agent row (so publishes and rollbacks of one agent queue), the
    version, then the agent's numbers sorted — so it cannot deadlock against a publish. Numbers
    another agent's publish takes meanwhile are re-checked by PostgreSQL once their lock is
    granted and skipped when they no longer hold this agent.
    """
    versions = VersionService(session, organization_id)
    agent = await versions.agent(agent_id, lock=True)
    version = await versions.get(agent_id, number, lock=True)
    if not version.published:
        raise VersionNotPublished()
    held = await PhoneNumberRepository(session, organization_id).for_agent(agent_id, lock=True)
    records = {record.phone_number: record for record in held}

    previous_live_version = agent.live_version
    now = utcnow()
    _go_live(agent, version, now)
    moves: list[Move] = []
    changed: dict[str, list[Slot]] = {}
    for phone, record in records.items():
        for slot in SLOTS:
            before = _holder(record, slot)
            if before is not None and before[0] == agent_id and _fill(record, slot, version, now):
                moves.append(Move(phone, slot, before[2], version.version))
                changed.setdefault(phone, []).append(slot)
    await session.flush()
    await audit.record(
        session,
        organization_id,
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
    await _record_assignments(session, organization_id, records, changed)
    return RolledBack(version, previous_live_version, moves)


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


async def _record_assignments(
    session: AsyncSession,
    organization_id: uuid.UUID,
    records: Mapping[str, PhoneNumber],
    changed: Mapping[str, list[Slot]],
) -> None:
    for phone, slots in changed.items():
        await audit.record(
            session,
            organization_id,
            "phone_number.assignment_changed",
            "phone_number",
            phone,
            {
                slot: {
                    "agent_id": getattr(records[phone], f"{slot}_agent_id"),
                    "version": getattr(records[phone], f"{slot}_version"),
                }
                for slot in slots
            },
        )


def _holder(record: PhoneNumber, slot: Slot) -> Holder:
    agent_id, version_id, number = (getattr(record, f"{slot}_{name}") for name in SLOT_FIELDS)
    return None if version_id is None else (agent_id, version_id, number)


def _fill(record: PhoneNumber, slot: Slot, version: AgentVersion, now: datetime) -> bool:
    return _write(record, slot, (version.agent_id, version.id, version.version), now)


def _clear(record: PhoneNumber, slot: Slot, now: datetime) -> bool:
    return _write(record, slot, None, now)


def _write(record: PhoneNumber, slot: Slot, holder: Holder, now: datetime) -> bool:
    """Write a slot, stamping `updated_at` only when something changed (and say whether it did).

    The stamp is explicit rather than the column's `onupdate`: the ORM batches these UPDATEs into
    one executemany, and SQLAlchemy (2.1.9) then copies the first row's generated timestamp onto
    every object, so the response would disagree with what was stored.
    """
    if _holder(record, slot) == holder:
        return False
    for name, value in zip(SLOT_FIELDS, holder or (None, None, None), strict=True):
        setattr(record, f"{slot}_{name}", value)
    record.updated_at = now
    return True
