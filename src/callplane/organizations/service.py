"""Organizations, users, API keys and tokens: used by the admin API and the CLI.

`PlatformService` holds what happens above any one organization (creating one, its first admin,
a user's personal token); `OrganizationService` what happens inside one (its API keys).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.auth.credentials import format_credential, hash_secret, new_secret
from callplane.auth.scopes import ALL_SCOPES
from callplane.auth.subject import AuthSubject
from callplane.errors import Forbidden, UnprocessableRequest
from callplane.kit.time import from_epoch_ms, to_epoch_ms, utcnow
from callplane.models import ApiKey, Membership, Organization, PersonalAccessToken, User
from callplane.organizations import repository
from callplane.organizations.errors import ApiKeyNotFound
from callplane.organizations.repository import ApiKeyRepository
from callplane.organizations.schemas import ApiKeyCreate


@dataclass(frozen=True)
class Issued:
    """A freshly issued credential: the only moment its full text exists."""

    id: uuid.UUID
    credential: str


@dataclass(frozen=True)
class Bootstrapped:
    """A new organization with its first member, an all-scope API key and the member's token."""

    organization: Organization
    user: User
    api_key: Issued
    token: Issued


class PlatformService:
    """Operations that belong to no organization (yet): bound to the session only."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def create_organization(self, name: str) -> Organization:
        organization = Organization(name=name)
        self.session.add(organization)
        await self.session.flush()
        await audit.record(
            self.session,
            organization.id,
            "organization.created",
            "organization",
            organization.id,
            {"name": name},
        )
        return organization

    async def get_or_create_user(self, email: str) -> User:
        user = await repository.get_user_by_email(self.session, email)
        if user is None:
            user = User(email=email)
            self.session.add(user)
            await self.session.flush()
        return user

    async def add_member(self, organization: Organization, user: User, role: str) -> None:
        self.session.add(Membership(organization_id=organization.id, user_id=user.id, role=role))
        await self.session.flush()
        await audit.record(
            self.session, organization.id, "member.added", "user", user.id, {"role": role}
        )

    async def create_token(
        self, user: User, name: str, *, expires_at: datetime | None = None
    ) -> Issued:
        secret = new_secret()
        token = PersonalAccessToken(
            user_id=user.id, name=name, secret_hash=hash_secret(secret), expires_at=expires_at
        )
        self.session.add(token)
        await self.session.flush()
        return Issued(token.id, format_credential("pat", token.id, secret))

    async def bootstrap(
        self, org_name: str, email: str, *, role: str = "admin", credential_name: str = "bootstrap"
    ) -> Bootstrapped:
        """An organization, its first member (created if new), an all-scope API key and a
        personal access token for the member, both called `credential_name`."""
        organization = await self.create_organization(org_name)
        user = await self.get_or_create_user(email)
        await self.add_member(organization, user, role)
        _, key = await OrganizationService(self.session, organization.id).create_api_key(
            credential_name
        )
        token = await self.create_token(user, credential_name)
        return Bootstrapped(organization, user, key, token)


class OrganizationService:
    """What happens inside one organization: its API keys."""

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.api_keys = ApiKeyRepository(session, organization_id)

    async def create_api_key(
        self,
        name: str,
        *,
        scopes: list[str] | None = None,
        allowed: frozenset[str] = ALL_SCOPES,
        expires_at: datetime | None = None,
        created_by: uuid.UUID | None = None,
    ) -> tuple[ApiKey, Issued]:
        secret = new_secret()
        key = self.api_keys.add(
            ApiKey(
                organization_id=self.organization_id,
                name=name,
                scopes=_check_scopes(scopes, allowed),
                secret_hash=hash_secret(secret),
                expires_at=expires_at,
                created_by_user_id=created_by,
            )
        )
        await self.session.flush()
        await audit.record(
            self.session,
            self.organization_id,
            "api_key.created",
            "api_key",
            key.id,
            {"name": name, "scopes": key.scopes, "expires_at": expires_at},
        )
        return key, Issued(key.id, format_credential("ak", key.id, secret))

    async def create_key_for(
        self, subject: AuthSubject, body: ApiKeyCreate
    ) -> tuple[ApiKey, Issued]:
        """An API key made through the API carries at most the scopes of whoever made it, and
        lives at most as long: otherwise a short-lived credential could mint a permanent one."""
        return await self.create_api_key(
            body.name,
            scopes=body.scopes,
            allowed=subject.scopes,
            expires_at=_check_expiry(from_epoch_ms(body.expires_at), subject.expires_at),
            created_by=subject.user_id,
        )

    async def revoke_api_key(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.api_keys.get(key_id, for_update=True)
        if key is None:
            raise ApiKeyNotFound()
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await audit.record(
                self.session,
                self.organization_id,
                "api_key.revoked",
                "api_key",
                key.id,
                {"name": key.name},
            )
        return key


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
