"""Resolve an address (a phone number and direction, or a SIP URI) to the agent version that
answers it, and that version's config as the telephone channel sees it.

The ETag is computed from what the answer is made of (the agent's and the version's ids and
revisions, the slot) before the config is touched, so a runtime revalidating its cached answer
(If-None-Match) gets its 304 without the config being decoded or re-encoded. Published versions
are immutable, so a new version in the slot (a publish, a rollback) or a renamed agent is what
changes it.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass

import orjson

from callplane.db.engine import Database
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.routing import repository
from callplane.routing.errors import NothingAnswers
from callplane.routing.repository import Match
from callplane.routing.schemas import Direction
from callplane.runtime.channels import for_channel

CHANNEL = "telephone"
# Part of every ETag: bump it when the answer's shape or the override rules change, so cached
# answers of an older server are not revalidated.
FORMAT = "1"
SIP_SCHEMES = ("sip:", "sips:")


class InvalidAddress(ValueError):
    """An address that cannot name anything (reported as a 422 on its query parameter)."""


@dataclass(frozen=True)
class PhoneAddress:
    number: str  # E.164
    slot: Direction


@dataclass(frozen=True)
class SipAddress:
    agent_id: uuid.UUID
    domain: str


Address = PhoneAddress | SipAddress


def phone_address(raw: str, direction: Direction) -> PhoneAddress:
    """A number however it is written. A `+` sent unencoded in a query string arrives as a
    space (form decoding): `?phone_number=+1415…` is read as the caller meant it."""
    if raw[:1] == " ":
        raw = "+" + raw.lstrip()
    try:
        return PhoneAddress(_e164(raw), direction)
    except InvalidPhoneNumber as exc:
        raise InvalidAddress(str(exc)) from None


@functools.lru_cache(maxsize=4096)
def _e164(raw: str) -> str:
    """`to_e164`, remembered: parsing is the costliest step of a resolve (~100 µs), and a
    runtime resolves the same few numbers over and over."""
    return to_e164(raw)


def sip_address(raw: str) -> SipAddress:
    """`sip:<agent-id>@<domain>` (or `sips:`, optionally in `<…>`, with `;params` or a port).

    The user part must be an agent id: that is the only SIP address callplane hands out."""
    uri = raw.strip().removeprefix("<").removesuffix(">")
    scheme = next((s for s in SIP_SCHEMES if uri.lower().startswith(s)), None)
    if scheme is None:
        raise InvalidAddress(f"{raw!r} is not a SIP URI (sip:<agent-id>@<domain>)")
    user, at, host = uri[len(scheme) :].partition("@")
    host = host.split(";", 1)[0].split("?", 1)[0]
    domain = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if not at or not domain:
        raise InvalidAddress(f"{raw!r} is not a SIP URI (sip:<agent-id>@<domain>)")
    try:
        agent_id = uuid.UUID(user)
    except ValueError:
        raise InvalidAddress(f"{raw!r}: the user part must be an agent id") from None
    return SipAddress(agent_id, domain.lower())


@dataclass(frozen=True)
class Resolved:
    match: Match
    slot: Direction | None
    etag: str

    def document(self) -> bytes:
        """The answer's JSON (the ResolvedRoute shape)."""
        match = self.match
        return orjson.dumps(
            {
                "agent": {"id": str(match.agent_id), "name": match.agent_name},
                "version": {"id": str(match.version_id), "version": match.version},
                "slot": self.slot,
                "channel": CHANNEL,
                "config": for_channel(match.config, CHANNEL),
                "etag": self.etag,
            }
        )


def etag_of(match: Match, slot: Direction | None) -> str:
    key = (
        f"{FORMAT}|{match.agent_id}|{match.agent_revision}|{match.version_id}|"
        f"{match.version_revision}|{slot or 'sip'}"
    )
    return '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'


async def resolve(
    database: Database, organization_id: uuid.UUID, address: Address, sip_domain: str
) -> Resolved:
    """What answers the address in this organization; NothingAnswers (404) otherwise, including
    for another organization's number or agent and for a SIP domain that is not this server's."""
    match: Match | None
    if isinstance(address, PhoneAddress):
        match = await repository.by_phone_number(
            database, organization_id, address.number, address.slot
        )
        slot: Direction | None = address.slot
    else:
        match = None
        if address.domain == sip_domain.lower():
            match = await repository.by_sip_agent(database, organization_id, address.agent_id)
        slot = None
    if match is None:
        raise NothingAnswers()
    return Resolved(match, slot, etag_of(match, slot))


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names the current ETag (weak comparison, as RFC 9110 asks for
    GET), or is `*`."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
