"""Phone-number rules: one registration per number worldwide, no deleting a number in use.

Writes to a number's agent slots are not here: they belong to publishing, rollback and agent
deletion, and all of them go through `phone_numbers/slots.py`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.models import PhoneNumber
from callplane.phone_numbers.errors import PhoneNumberInUse, PhoneNumberNotFound, PhoneNumberTaken
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.phone_numbers.schemas import PhoneNumberCreate, PhoneNumberUpdate


class PhoneNumberService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.phone_numbers = PhoneNumberRepository(session, organization_id)

    async def get(self, raw: str, *, lock: bool = False) -> PhoneNumber:
        """The number however it is written (`+1 (415) …`); one that does not parse is unknown."""
        try:
            number = to_e164(raw)
        except InvalidPhoneNumber:
            raise PhoneNumberNotFound() from None
        record = await self.phone_numbers.get_by_number(number, for_update=lock)
        if record is None:
            raise PhoneNumberNotFound()
        return record

    async def register(self, body: PhoneNumberCreate) -> PhoneNumber:
        if await self.phone_numbers.registered_anywhere(body.phone_number):
            raise PhoneNumberTaken()
        record = PhoneNumber(
            phone_number=body.phone_number,
            label=body.label,
            outbound_shareable=body.outbound_shareable,
        )
        # A concurrent registration can pass the check above too; the unique index decides.
        try:
            async with self.session.begin_nested():
                self.phone_numbers.add(record)
        except IntegrityError:
            raise PhoneNumberTaken() from None
        await self._record("phone_number.created", record, {"label": record.label})
        return record

    async def update(self, raw: str, body: PhoneNumberUpdate) -> PhoneNumber:
        record = await self.get(raw, lock=True)
        changes = audit.update_from(record, body)
        await self.session.flush()
        await self._record("phone_number.updated", record, changes)
        return record

    async def delete(self, raw: str) -> None:
        record = await self.get(raw, lock=True)
        if record.inbound_agent_version_id or record.outbound_agent_version_id:
            raise PhoneNumberInUse()
        await self.phone_numbers.delete(record)
        await self._record("phone_number.deleted", record, {})

    async def _record(self, action: str, record: PhoneNumber, changes: dict[str, object]) -> None:
        await audit.record(
            self.session, self.organization_id, action, "phone_number", record.phone_number, changes
        )
