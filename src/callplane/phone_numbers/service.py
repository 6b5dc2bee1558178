from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from callplane.audit import recorder as audit
from callplane.errors import Conflict, NotFound
from callplane.models import PhoneNumber
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.phone_numbers.schemas import PhoneNumberCreate, PhoneNumberUpdate


class PhoneNumberNotFound(NotFound):
    code = "phone_number_not_found"
    default_detail = "Phone number not found."


class PhoneNumberTaken(Conflict):
    code = "phone_number_registered"
    default_detail = "This phone number is already registered."


class PhoneNumberInUse(Conflict):
    code = "phone_number_assigned"
    default_detail = "This phone number is assigned to an agent; unassign it first."


async def get(repo: PhoneNumberRepository, raw: str, *, for_update: bool = False) -> PhoneNumber:
    try:
        number = to_e164(raw)
    except InvalidPhoneNumber:
        raise PhoneNumberNotFound() from None
    record = await repo.get_by_number(number, for_update=for_update)
    if record is None:
        raise PhoneNumberNotFound()
    return record


async def register(repo: PhoneNumberRepository, body: PhoneNumberCreate) -> PhoneNumber:
    if await repo.registered_anywhere(body.phone_number):
        raise PhoneNumberTaken()
    record = PhoneNumber(
        phone_number=body.phone_number,
        label=body.label,
        outbound_shareable=body.outbound_shareable,
    )
    # A concurrent registration can pass the check above too; the unique index decides.
    try:
        async with repo.session.begin_nested():
            repo.add(record)
    except IntegrityError:
        raise PhoneNumberTaken() from None
    await _record(repo, "phone_number.created", record, {"label": record.label})
    return record


async def update(repo: PhoneNumberRepository, raw: str, body: PhoneNumberUpdate) -> PhoneNumber:
    record = await get(repo, raw, for_update=True)
    changes = audit.update_from(record, body)
    await repo.session.flush()
    await _record(repo, "phone_number.updated", record, changes)
    return record


async def delete(repo: PhoneNumberRepository, raw: str) -> None:
    record = await get(repo, raw, for_update=True)
    if record.inbound_agent_version_id or record.outbound_agent_version_id:
        raise PhoneNumberInUse()
    await repo.delete(record)
    await _record(repo, "phone_number.deleted", record, {})


async def _record(
    repo: PhoneNumberRepository, action: str, record: PhoneNumber, changes: dict[str, object]
) -> None:
    await audit.record(
        repo.session, repo.organization_id, action, "phone_number", record.phone_number, changes
    )
