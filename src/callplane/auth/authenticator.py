"""The Authenticator: turns a bearer credential (and X-Anyreach-Org) into an AuthSubject.

Verified credential records are cached in-process for `auth_cache_ttl_seconds` (≤ 5 s), so the hot
path does no database read; revocation evicts the entry at once in the revoking process, and other
processes see it when their entry expires.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from callplane.auth import repository
from callplane.auth.credentials import ParsedCredential, parse_credential, secret_matches
from callplane.auth.scopes import ROLE_SCOPES
from callplane.auth.subject import AuthSubject
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.errors import Forbidden, Unauthorized

MISSING_ORG = "Token is missing organization claim."


@dataclass(frozen=True)
class _Credential:
    """What we need of a credential row, frozen so it can be shared across requests."""

    secret_hash: bytes
    organization_id: uuid.UUID | None  # api keys only
    user_id: uuid.UUID | None  # tokens only
    scopes: frozenset[str]
    expires_at: datetime | None
    revoked: bool


class Authenticator:
    def __init__(self, database: Database, ttl_seconds: float):
        self._database = database
        self._ttl = ttl_seconds
        self._credentials: dict[uuid.UUID, tuple[float, _Credential | None]] = {}
        self._roles: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, str | None]] = {}
        # Bumped by every eviction. A lookup that overlapped one does not cache what it read:
        # it may have read the row before the revocation committed.
        self._evictions = 0

    def evict(self, credential_id: uuid.UUID) -> None:
        self._evictions += 1
        self._credentials.pop(credential_id, None)

    async def authenticate(self, authorization: str | None, org_header: str | None) -> AuthSubject:
        if not authorization:
            raise Unauthorized("Missing Authorization header; send `Authorization: Bearer <key>`.")
        scheme, _, raw = authorization.partition(" ")
        parsed = parse_credential(raw.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise Unauthorized("Invalid credential.")
        record = await self._credential(parsed)
        if record is None or not secret_matches(parsed.secret, record.secret_hash):
            raise Unauthorized("Invalid credential.")
        if record.revoked:
            raise Unauthorized("This credential has been revoked.")
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise Unauthorized("This credential has expired.")
        requested_org = _parse_org(org_header)
        if parsed.kind == "ak":
            assert record.organization_id is not None
            if requested_org is not None and requested_org != record.organization_id:
                raise Forbidden("This API key belongs to a different organization.")
            return AuthSubject(
                record.organization_id,
                record.scopes,
                "api_key",
                parsed.credential_id,
                None,
                record.expires_at,
            )
        if requested_org is None:
            raise Unauthorized(MISSING_ORG)
        assert record.user_id is not None
        role = await self._role(record.user_id, requested_org)
        if role is None:
            raise Forbidden("You are not a member of this organization.")
        return AuthSubject(
            requested_org,
            ROLE_SCOPES[role],
            "user",
            parsed.credential_id,
            record.user_id,
            record.expires_at,
        )

    async def _credential(self, parsed: ParsedCredential) -> _Credential | None:
        now = time.monotonic()
        cached = self._credentials.get(parsed.credential_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        evictions = self._evictions
        async with self._database.session(write=False) as session:
            record: _Credential | None = None
            if parsed.kind == "ak":
                key = await repository.get_api_key(session, parsed.credential_id)
                if key is not None:
                    record = _Credential(
                        key.secret_hash,
                        key.organization_id,
                        None,
                        frozenset(key.scopes),
                        key.expires_at,
                        key.revoked_at is not None,
                    )
            else:
                token = await repository.get_token(session, parsed.credential_id)
                if token is not None:
                    record = _Credential(
                        token.secret_hash,
                        None,
                        token.user_id,
                        frozenset(),
                        token.expires_at,
                        token.revoked_at is not None,
                    )
        if self._ttl > 0 and self._evictions == evictions:
            self._credentials[parsed.credential_id] = (now + self._ttl, record)
        return record

    async def _role(self, user_id: uuid.UUID, organization_id: uuid.UUID) -> str | None:
        now = time.monotonic()
        cached = self._roles.get((user_id, organization_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        evictions = self._evictions
        async with self._database.session(write=False) as session:
            role = await repository.get_role(session, user_id, organization_id)
        if self._ttl > 0 and self._evictions == evictions:
            self._roles[(user_id, organization_id)] = (now + self._ttl, role)
        return role


def _parse_org(header: str | None) -> uuid.UUID | None:
    if header is None or not header.strip():
        return None
    try:
        return uuid.UUID(header.strip())
    except ValueError:
        # An org id that cannot exist names no organization the caller belongs to.
        raise Forbidden("X-Anyreach-Org is not a valid organization id.") from None
