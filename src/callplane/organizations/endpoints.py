"""`/admin`: organization API keys and the caller's scopes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response

from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession, WriteSession, after_commit
from callplane.errors import Forbidden, NotFound, UnprocessableRequest, merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.kit.time import to_epoch_ms
from callplane.models import ApiKey
from callplane.organizations.errors import ApiKeyNotFound
from callplane.organizations.repository import ApiKeyRepository
from callplane.organizations.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from callplane.organizations.service import OrganizationService

router = APIRouter(prefix="/admin", tags=["admin"])

ManageKeys = Annotated[AuthSubject, Requires(Scope.API_KEYS_MANAGE)]
AnyCaller = Annotated[AuthSubject, Requires()]


def _read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        key_id=key.id.hex,
        name=key.name,
        scopes=list(key.scopes),
        expires_at=to_epoch_ms(key.expires_at),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@router.post(
    "/organization-pats",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=merge_responses(Forbidden, UnprocessableRequest),
)
async def create_api_key(
    body: ApiKeyCreate, subject: ManageKeys, session: WriteSession
) -> ApiKeyCreated:
    """Create an organization API key (`ak_…`). The full key is in `pat_key`, shown once.

    A key never outscopes or outlives the credential creating it: scopes beyond the caller's
    are 403; when the caller's credential expires, an omitted `expires_at` becomes that expiry
    (see the response) and a later one is 422. A past `expires_at` is 422."""
    key, issued = await OrganizationService(session, subject.organization_id).create_key_for(
        subject, body
    )
    return ApiKeyCreated(**_read(key).model_dump(), pat_key=issued.credential)


@router.get(
    "/organization-pats", response_model=Page[ApiKeyRead], responses=merge_responses(InvalidCursor)
)
async def list_api_keys(
    subject: ManageKeys, session: ReadSession, limit: LimitParam = 20, cursor: CursorParam = None
) -> Page[ApiKeyRead]:
    """List the organization's API keys, newest first, revoked ones included (never their
    secrets)."""
    repo = ApiKeyRepository(session, subject.organization_id)
    keys, next_cursor = await repo.list(limit=limit, cursor=cursor)
    return Page.of([_read(key) for key in keys], limit, next_cursor)


@router.delete(
    "/organization-pats/{key_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(NotFound),
)
async def revoke_api_key(
    key_id: str, subject: ManageKeys, session: WriteSession, request: Request
) -> None:
    """Revoke a key: at once in this process, within seconds in every other."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise ApiKeyNotFound() from None
    await OrganizationService(session, subject.organization_id).revoke_api_key(parsed)
    after_commit(session, lambda: request.app.state.authenticator.evict(parsed))


@router.get("/members/me/scopes", response_model=list[str])
async def get_my_scopes(subject: AnyCaller) -> list[str]:
    """The caller's scopes in the current organization."""
    return sorted(subject.scopes)
