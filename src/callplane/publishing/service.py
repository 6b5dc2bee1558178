"""Publishing: mark a version published, make it live, and write phone-number slots — atomically."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.errors import NotFound, UnprocessableRequest
from callplane.models import AgentVersion, PhoneNumber
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.publishing.schemas import Direction, PublishRequest
from callplane.versions.service import VersionService, check_publishable


class PhoneNumbersNotRegistered(NotFound):
    code = "phone_numbers_not_registered"
    default_detail = "Some phone numbers are not registered in this organization."


class InvalidPhoneNumbers(UnprocessableRequest):
    code = "invalid_phone_numbers"


def _slots(direction: Direction) -> tuple[str, ...]:
    return ("inbound", "outbound") if direction == "both" else (direction,)


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
) -> list[PhoneNumber]:
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

    now = utcnow()
    first_publish = not version.published
    if not version.published:
        version.published = True
        version.published_at = now
        version.revision += 1
    agent.live_version_id = version.id
    agent.live_version = version.version
    agent.revision += 1
    changed: dict[str, list[str]] = {}
    for slot in _slots(body.direction):
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
    return [records[n] for n in [*assign, *unassign]]


def _fill(record: PhoneNumber, slot: str, version: AgentVersion, now: datetime) -> bool:
    return _write(record, slot, (version.agent_id, version.id, version.version), now)


def _clear(record: PhoneNumber, slot: str, now: datetime) -> bool:
    return _write(record, slot, (None, None, None), now)


def _write(
    record: PhoneNumber,
    slot: str,
    values: tuple[uuid.UUID | None, uuid.UUID | None, int | None],
    now: datetime,
) -> bool:
    """Write a slot, stamping `updated_at` only when something changed (and say whether it did).

    The stamp is explicit rather than the column's `onupdate`: the ORM batches these UPDATEs into
    one executemany, and SQLAlchemy (2.1.9) then copies the first row's generated timestamp onto
    every object, so the response would disagree with what was stored.
    """
    names = (f"{slot}_agent_id", f"{slot}_agent_version_id", f"{slot}_version")
    if all(getattr(record, name) == value for name, value in zip(names, values, strict=True)):
        return False
    for name, value in zip(names, values, strict=True):
        setattr(record, name, value)
    record.updated_at = now
    return True
