"""`/core/phone-numbers`: the registry of numbers an organization owns."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Response

from callplane.auth.dependencies import Requires, authorize
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import merge_responses
from callplane.kit import quick
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.phone_numbers.errors import PhoneNumberInUse, PhoneNumberNotFound, PhoneNumberTaken
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.phone_numbers.schemas import PhoneNumberCreate, PhoneNumberRead, PhoneNumberUpdate
from callplane.phone_numbers.service import PhoneNumberService

router = APIRouter(prefix="/core/phone-numbers", tags=["phone numbers"])

READ_SCOPES = (Scope.PHONE_NUMBERS_READ, Scope.PHONE_NUMBERS_MANAGE)
Reader = Annotated[AuthSubject, Requires(*READ_SCOPES)]
Manager = Annotated[AuthSubject, Requires(Scope.PHONE_NUMBERS_MANAGE)]


async def list_phone_numbers(
    subject: Reader,
    session: ReadSession,
    phone_number: Annotated[str | None, Query(max_length=64)] = None,
    agent_id: uuid.UUID | None = None,
    assigned: bool | None = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[PhoneNumberRead]:
    """List numbers; filter by substring, by the agent a slot holds, or by assignment."""
    rows, next_cursor = await PhoneNumberRepository(session, subject.organization_id).list(
        phone_number=phone_number, agent_id=agent_id, assigned=assigned, limit=limit, cursor=cursor
    )
    return Page.of([PhoneNumberRead.model_validate(row) for row in rows], limit, next_cursor)


router.add_api_route(
    "",
    list_phone_numbers,
    methods=["GET"],
    response_model=Page[PhoneNumberRead],
    responses=merge_responses(InvalidCursor),
    route_class_override=quick.quick(
        {
            "phone_number": quick.text(64),
            "agent_id": quick.uuid_text,
            "assigned": quick.boolean,
            "limit": quick.integer(1, 100),
            "cursor": quick.text(512),
        },
        quick.endpoint_page(list_phone_numbers, partial(authorize, accepted=READ_SCOPES)),
    ),
)


@router.post(
    "",
    status_code=201,
    response_model=PhoneNumberRead,
    responses=merge_responses(PhoneNumberTaken),
)
async def register_phone_number(
    body: PhoneNumberCreate, subject: Manager, session: WriteSession
) -> PhoneNumberRead:
    """Register a number the organization owns. A number can be registered only once."""
    record = await PhoneNumberService(session, subject.organization_id).register(body)
    return PhoneNumberRead.model_validate(record)


@router.get(
    "/{phone_number}",
    response_model=PhoneNumberRead,
    responses=merge_responses(PhoneNumberNotFound),
)
async def get_phone_number(
    phone_number: str, subject: Reader, session: ReadSession
) -> PhoneNumberRead:
    record = await PhoneNumberService(session, subject.organization_id).get(phone_number)
    return PhoneNumberRead.model_validate(record)


@router.patch(
    "/{phone_number}",
    response_model=PhoneNumberRead,
    responses=merge_responses(PhoneNumberNotFound),
)
async def update_phone_number(
    phone_number: str, body: PhoneNumberUpdate, subject: Manager, session: WriteSession
) -> PhoneNumberRead:
    """Change the label or whether outbound calls may share the number."""
    record = await PhoneNumberService(session, subject.organization_id).update(phone_number, body)
    return PhoneNumberRead.model_validate(record)


@router.delete(
    "/{phone_number}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(PhoneNumberNotFound, PhoneNumberInUse),
)
async def delete_phone_number(phone_number: str, subject: Manager, session: WriteSession) -> None:
    """Remove a number from the registry; refused while a slot is assigned."""
    await PhoneNumberService(session, subject.organization_id).delete(phone_number)
