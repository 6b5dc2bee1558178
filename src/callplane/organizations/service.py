"""Organizations, users, API keys and tokens: used by the admin API and the CLI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.auth.credentials import format_credential, hash_secret, new_secret
from callplane.auth.scopes import ALL_SCOPES
from callplane.auth.subject import AuthSubject
from callplane.errors import Forbidden, NotFound, UnprocessableRequest
from callplane.kit.time import to_epoch_ms
from callplane.models import ApiKey, Membership, Organization, PersonalAccessToken, User
from callplane.organizations import repository
from callplane.organizations.repository import ApiKeyRepository


@dataclass(frozen=True)
class Issued:
    """A freshly issued credential: the only moment its full text exists."""

    id: uuid.UUID
    credential: str


async def create_organization(session: AsyncSession, name: str) -> Organization:
    organization = Organization(name=name)
    session.add(organization)
    await session.flush()
    await audit.record(
        session,
        organization.id,
        "organization.created",
        "organization",
        organization.id,
        {"name": name},
    )
    return organization


async def get_or_create_user(session: AsyncSession, email: str) -> User:
    user = await repository.get_user_by_email(session, email)
    if user is None:
        user = User(email=email)
        session.add(user)
        await session.flush()
    return user


async def add_member(
    session: AsyncSession, organization: Organization, user: User, role: str
) -> None:
    session.add(Membership(organization_id=organization.id, user_id=user.id, role=role))
    await session.flush()
    await audit.record(session, organization.id, "member.added", "user", user.id, {"role": role})


def _check_scopes(requested: list[str] | None, allowed: frozenset[str]) -> list[str]:
    if requested is None:
        return sorted(allowed)
    unknown = sorted(set(requested) - ALL_SCOPES)
    if unknown:
        raise UnprocessableRequest(f"Unknown scopes: {', '.join(unknown)}.")
    beyond = sorted(set(requested) - allowed)
    if beyond:
        raise Forbidden(f"A key cannot carry scopes its creator lacks: {', '.join(beyond)}.")
    return sorted(set(requested))


async def create_api_key(
    session: AsyncSession,
    organization_id: uuid.UUID,
    name: str,
    *,
    scopes: list[str] | None = None,
    allowed: frozenset[str] = ALL_SCOPES,
    expires_at: datetime | None = None,
    created_by: uuid.UUID | None = None,
) -> tuple[ApiKey, Issued]:
    secret = new_secret()
    key = ApiKey(
        organization_id=organization_id,
        name=name,
        scopes=_check_scopes(scopes, allowed),
        secret_hash=hash_secret(secret),
        expires_at=expires_at,
        created_by_user_id=created_by,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        organization_id,
        "api_key.created",
        "api_key",
        key.id,
        {"name": name, "scopes": key.scopes, "expires_at": expires_at},
    )
    return key, Issued(key.id, format_credential("ak", key.id, secret))


async def create_token(
    session: AsyncSession, user: User, name: str, *, expires_at: datetime | None = None
) -> Issued:
    secret = new_secret()
    token = PersonalAccessToken(
        user_id=user.id, name=name, secret_hash=hash_secret(secret), expires_at=expires_at
    )
    session.add(token)
    await session.flush()
    return Issued(token.id, format_credential("pat", token.id, secret))


async def create_key_for(
    session: AsyncSession,
    subject: AuthSubject,
    name: str,
    scopes: list[str] | None,
    expires_at: datetime | None,
) -> tuple[ApiKey, Issued]:
    """An API key made through the API carries at most the scopes of whoever made it, and
    lives at most as long: otherwise a short-lived credential could mint a permanent one."""
    return await create_api_key(
        session,
        subject.organization_id,
        name,
        scopes=scopes,
        allowed=subject.scopes,
        expires_at=_check_expiry(expires_at, subject.expires_at),
        created_by=subject.user_id,
    )


def _check_expiry(requested: datetime | None, creator: datetime | None) -> datetime | None:
    """No expiry asked for means the creator's (a CI job's key dies with the job's credential);
    a later one is refused rather than silently shortened, so the caller knows what it got."""
    if creator is None:
        return requested
    if requested is None:
        return creator
    if requested > creator:
        raise UnprocessableRequest(
            "expires_at cannot be later than the expiry of the credential creating the key "
            f"({to_epoch_ms(creator)}): a key never outlives its creator. "
            "Omit expires_at to give the key that expiry."
        )
    return requested


async def revoke_api_key(repo: ApiKeyRepository, key_id: uuid.UUID, now: datetime) -> ApiKey:
    key = await repo.get(key_id, for_update=True)
    if key is None:
        raise NotFound("API key not found.")
    if key.revoked_at is None:
        key.revoked_at = now
        await audit.record(
            repo.session,
            repo.organization_id,
            "api_key.revoked",
            "api_key",
            key.id,
            {"name": key.name},
        )
    return key
