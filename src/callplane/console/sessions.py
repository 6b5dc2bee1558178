"""Console sign-in: one-time login links, personal access tokens, API keys; server-side sessions.

A session cookie is `<session id hex>.<secret>`; the row keeps the secret's SHA-256 (as for API
keys: the secret has full entropy). Every request reads the row again, with the user's role or the
key's scopes, so a revoked session, a revoked key or a changed role takes effect at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.auth import repository as auth_repository
from callplane.auth.credentials import hash_secret, new_secret, parse_credential, secret_matches
from callplane.auth.scopes import ROLE_SCOPES
from callplane.auth.subject import AuthSubject
from callplane.db.types import utcnow
from callplane.errors import AppError
from callplane.models import (
    ApiKey,
    ConsoleLoginLink,
    ConsoleSession,
    Membership,
    Organization,
    User,
)

COOKIE = "callplane_console"


class SignInRefused(AppError):
    status = 401
    code = "console_sign_in_refused"


@dataclass(frozen=True)
class ConsoleSubject:
    """Who the console acts as: the AuthSubject the services and the audit log see, plus what
    the pages show."""

    auth: AuthSubject
    session_id: uuid.UUID
    csrf_token: str
    who: str
    organization_name: str

    def can(self, scope: str) -> bool:
        return scope in self.auth.scopes

    @property
    def organization_id(self) -> uuid.UUID:
        return self.auth.organization_id


@dataclass(frozen=True)
class Issued:
    link_id: uuid.UUID
    token: str  # `<id hex>.<secret>`, shown once
    expires_at: datetime


def _split(raw: str | None) -> tuple[uuid.UUID, str] | None:
    if not raw or "." not in raw or len(raw) > 200:
        return None
    id_part, _, secret = raw.partition(".")
    try:
        return uuid.UUID(hex=id_part), secret
    except ValueError:
        return None


async def create_login_link(
    session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID, minutes: int
) -> Issued:
    secret = new_secret()
    link = ConsoleLoginLink(
        organization_id=organization_id,
        user_id=user_id,
        secret_hash=hash_secret(secret),
        expires_at=utcnow() + timedelta(minutes=minutes),
    )
    session.add(link)
    await session.flush()
    return Issued(link.id, f"{link.id.hex}.{secret}", link.expires_at)


async def peek_login_link(session: AsyncSession, token: str) -> tuple[User, Organization] | None:
    """Who a still usable link signs in (for the confirmation page); None when it is not one."""
    link = await _usable_link(session, token, lock=False)
    if link is None:
        return None
    user = await session.get(User, link.user_id)
    organization = await session.get(Organization, link.organization_id)
    if user is None or organization is None:
        return None
    return user, organization


async def _usable_link(session: AsyncSession, token: str, *, lock: bool) -> ConsoleLoginLink | None:
    parts = _split(token)
    if parts is None:
        return None
    statement = select(ConsoleLoginLink).where(ConsoleLoginLink.id == parts[0])
    if lock:
        statement = statement.with_for_update()
    link = (await session.execute(statement)).scalar_one_or_none()
    if link is None or not secret_matches(parts[1], link.secret_hash):
        return None
    if link.used_at is not None or link.expires_at <= utcnow():
        return None
    return link


async def _open(
    session: AsyncSession,
    organization_id: uuid.UUID,
    minutes: int,
    *,
    how: str,
    user_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
) -> str:
    secret = new_secret()
    row = ConsoleSession(
        organization_id=organization_id,
        user_id=user_id,
        api_key_id=api_key_id,
        secret_hash=hash_secret(secret),
        csrf_token=secrets.token_urlsafe(32),
        signed_in_with=how,
        expires_at=utcnow() + timedelta(minutes=minutes),
    )
    session.add(row)
    await session.flush()
    return f"{row.id.hex}.{secret}"


async def sign_in_with_link(session: AsyncSession, token: str, minutes: int) -> str:
    """Use the link (once) and open a session; the cookie value."""
    link = await _usable_link(session, token, lock=True)
    if link is None:
        raise SignInRefused("This login link is invalid, used or expired. Ask for a new one.")
    # Conditional on still being unused: two tabs racing for one link get one session.
    result = await session.execute(
        update(ConsoleLoginLink)
        .where(ConsoleLoginLink.id == link.id, ConsoleLoginLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise SignInRefused("This login link is invalid, used or expired. Ask for a new one.")
    role = await auth_repository.get_role(session, link.user_id, link.organization_id)
    if role is None:
        raise SignInRefused("You are no longer a member of this organization.")
    return await _open(session, link.organization_id, minutes, how="link", user_id=link.user_id)


async def organizations_of_token(
    session: AsyncSession, raw: str
) -> tuple[uuid.UUID, list[Organization]]:
    """The user behind a personal access token and the organizations they belong to."""
    parsed = parse_credential(raw.strip())
    if parsed is None or parsed.kind != "pat":
        raise SignInRefused("That is not a personal access token (pat_…).")
    token = await auth_repository.get_token(session, parsed.credential_id)
    if token is None or not secret_matches(parsed.secret, token.secret_hash):
        raise SignInRefused("Invalid personal access token.")
    if token.revoked_at is not None or (
        token.expires_at is not None and token.expires_at <= utcnow()
    ):
        raise SignInRefused("This personal access token is revoked or expired.")
    statement = (
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == token.user_id)
        .order_by(Organization.name, Organization.id)
    )
    return token.user_id, list((await session.execute(statement)).scalars())


async def sign_in_with_token(
    session: AsyncSession, raw: str, organization_id: uuid.UUID, minutes: int
) -> str:
    user_id, organizations = await organizations_of_token(session, raw)
    if organization_id not in {o.id for o in organizations}:
        raise SignInRefused("You are not a member of this organization.")
    return await _open(session, organization_id, minutes, how="token", user_id=user_id)


async def sign_in_with_api_key(session: AsyncSession, raw: str, minutes: int) -> str:
    parsed = parse_credential(raw.strip())
    if parsed is None or parsed.kind != "ak":
        raise SignInRefused("That is not an API key (ak_…).")
    key = await auth_repository.get_api_key(session, parsed.credential_id)
    if key is None or not secret_matches(parsed.secret, key.secret_hash):
        raise SignInRefused("Invalid API key.")
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= utcnow()):
        raise SignInRefused("This API key is revoked or expired.")
    expires = min(
        utcnow() + timedelta(minutes=minutes), key.expires_at or utcnow() + timedelta(days=3650)
    )
    minutes = max(1, int((expires - utcnow()).total_seconds() // 60))
    return await _open(session, key.organization_id, minutes, how="api_key", api_key_id=key.id)


@dataclass(frozen=True)
class Lookup:
    subject: ConsoleSubject | None
    expired: bool = False


async def resolve(session: AsyncSession, cookie: str | None) -> Lookup:
    """The session a cookie names, if it is still good (and why not, when it expired).

    One statement on every console request: the session with its organization's name, the
    user's role and email, or the API key it was opened with."""
    parts = _split(cookie)
    if parts is None:
        return Lookup(None)
    statement = (
        select(ConsoleSession, Organization.name, Membership.role, User.email, ApiKey)
        .join(Organization, Organization.id == ConsoleSession.organization_id)
        .outerjoin(
            Membership,
            (Membership.user_id == ConsoleSession.user_id)
            & (Membership.organization_id == ConsoleSession.organization_id),
        )
        .outerjoin(User, User.id == ConsoleSession.user_id)
        .outerjoin(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
        .where(ConsoleSession.id == parts[0])
    )
    found = (await session.execute(statement)).one_or_none()
    if found is None:
        return Lookup(None)
    row, organization_name, role, email, key = found
    if not secret_matches(parts[1], row.secret_hash) or row.revoked_at is not None:
        return Lookup(None)
    now = utcnow()
    if row.expires_at <= now:
        return Lookup(None, expired=True)
    if row.user_id is not None:
        if role is None or email is None:
            return Lookup(None)
        # A user does not expire: what they create through the console may outlive the session
        # (as through the API with a token that never expires).
        auth = AuthSubject(
            row.organization_id, ROLE_SCOPES[role], "user", row.id, row.user_id, None
        )
        who = f"{email} ({role})"
    else:
        if key is None or key.revoked_at is not None:
            return Lookup(None)
        if key.expires_at is not None and key.expires_at <= now:
            return Lookup(None, expired=True)
        auth = AuthSubject(
            row.organization_id, frozenset(key.scopes), "api_key", key.id, None, key.expires_at
        )
        who = f"API key {key.name}"
    return Lookup(ConsoleSubject(auth, row.id, row.csrf_token, who, organization_name))


async def revoke(session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
