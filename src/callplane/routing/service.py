"""Resolve an address (a phone number and direction, or a SIP URI) to the agent version that
answers it, and that version's config as the telephone channel sees it.

The ETag is computed from what the answer is made of (the agent's and the version's ids and
revisions, the slot) before the config is touched, so a runtime revalidating its cached answer
(If-None-Match) gets its 304 without the config being decoded or re-encoded. Published versions
are immutable, so a new version in the slot (a publish, a rollback) or a renamed agent is what
changes it.

The config part of the answer, the costliest to make (decode the stored document, apply the
override, encode it), is kept encoded by `ConfigCache` under its version id and revision: what
the statement reads on every call says whether it is the one answering (see repository.py).
The whole answer (its ETag and JSON) is kept too, under everything it is made of: the values the
statement read (agent id, name and revision, version id, number and revision) and the slot. The
statement still runs on every call, so a write by any process changes the key, never a kept
answer; what is saved is the ETag's hash and the encoding (issue 15: ~15 µs of a resolve's
~100 µs in-process on SQLite).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from callplane.db.engine import Database
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.routing import repository
from callplane.routing.errors import NothingAnswers
from callplane.routing.repository import Known, Match
from callplane.routing.schemas import Direction
from callplane.runtime.channels import for_channel

CHANNEL = "telephone"
K = TypeVar("K")
V = TypeVar("V")
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


AnswerKey = tuple[uuid.UUID, str, int, uuid.UUID, int, int, Direction | None]


class ConfigCache:
    """Versions' configs as the telephone channel sees them, encoded, by (version id, revision),
    and per address the version last seen answering it (what `resolve` names to the statement,
    so that the config is not read again). A version's config never changes without its revision
    changing, so an entry can be outlived but never wrong.

    And whole answers (ETag, JSON) by `answer_key`: everything an answer is made of, as the
    statement read it on this very call. Bounded: each store is emptied when full."""

    MAX_BYTES = 8 * 1024 * 1024
    MAX_ADDRESSES = 4096

    def __init__(self) -> None:
        self._configs: _Bounded[Known, bytes] = _Bounded()
        self._last_seen: dict[Address, Known] = {}
        self._answers: _Bounded[AnswerKey, tuple[str, bytes]] = _Bounded()

    def known(self, address: Address) -> Known | None:
        """The version (id, revision) whose config is held, last seen answering `address`."""
        version = self._last_seen.get(address)
        return version if version in self._configs else None

    def config(self, version: Known) -> bytes | None:
        return self._configs.get(version)

    def keep(self, address: Address, version: Known, config: bytes) -> None:
        self._configs.put(version, config, len(config), self.MAX_BYTES)
        if len(self._last_seen) >= self.MAX_ADDRESSES and address not in self._last_seen:
            self._last_seen.clear()
        self._last_seen[address] = version

    def answer(self, key: AnswerKey) -> tuple[str, bytes] | None:
        """The ETag and JSON of the answer made of `key`."""
        return self._answers.get(key)

    def keep_answer(self, key: AnswerKey, etag: str, document: bytes) -> None:
        self._answers.put(key, (etag, document), len(document), self.MAX_BYTES)


class _Bounded(Generic[K, V]):
    """A dict of encoded values with their total size: emptied when the next would overflow."""

    def __init__(self) -> None:
        self._items: dict[K, V] = {}
        self.bytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V, size: int, max_bytes: int) -> None:
        if key in self._items:
            return
        if self.bytes + size > max_bytes:
            self.clear()
        self._items[key] = value
        self.bytes += size

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


def answer_key(match: Match, slot: Direction | None) -> AnswerKey:
    """What an answer is made of, but the config (named by the version id and revision)."""
    return (
        match.agent_id,
        match.agent_name,
        match.agent_revision,
        match.version_id,
        match.version,
        match.version_revision,
        slot,
    )


@dataclass(frozen=True)
class Resolved:
    match: Match
    slot: Direction | None
    etag: str
    document: bytes  # the answer's JSON (the ResolvedRoute shape)


def answered(match: Match, slot: Direction | None, config: bytes) -> Resolved:
    """The answer of `match` in `slot`, with its encoded telephone config."""
    etag = etag_of(match, slot)
    document = orjson.dumps(
        {
            "agent": {"id": str(match.agent_id), "name": match.agent_name},
            "version": {"id": str(match.version_id), "version": match.version},
            "slot": slot,
            "channel": CHANNEL,
            "config": orjson.Fragment(config),
            "etag": etag,
        }
    )
    return Resolved(match, slot, etag, document)


def encoded_config(match: Match) -> bytes:
    return orjson.dumps(for_channel(match.config, CHANNEL))


def etag_of(match: Match, slot: Direction | None) -> str:
    key = (
        f"{FORMAT}|{match.agent_id}|{match.agent_revision}|{match.version_id}|"
        f"{match.version_revision}|{slot or 'sip'}"
    )
    return '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'


async def resolve(
    database: Database,
    organization_id: uuid.UUID,
    address: Address,
    sip_domain: str,
    cache: ConfigCache | None = None,
) -> Resolved:
    """What answers the address in this organization; NothingAnswers (404) otherwise, including
    for another organization's number or agent and for a SIP domain that is not this server's.
    With a `cache`, the config and the answer come from it when the statement says they are the
    ones answering."""
    known = cache.known(address) if cache is not None else None
    match = await _match(database, organization_id, address, sip_domain, known)
    if match is None:
        raise NothingAnswers()
    slot = address.slot if isinstance(address, PhoneAddress) else None
    if cache is None:
        return answered(match, slot, encoded_config(match))
    version = (match.version_id, match.version_revision)
    kept = cache.answer(answer_key(match, slot))
    if kept is not None:
        if known != version and (config := cache.config(version)) is not None:
            cache.keep(address, version, config)  # named to the statement next time
        return Resolved(match, slot, *kept)
    config = cache.config(version)
    if config is None:
        if match.config_source is None:  # emptied since the statement was sent
            match = await _match(database, organization_id, address, sip_domain, None)
            if match is None:
                raise NothingAnswers()
            version = (match.version_id, match.version_revision)
        config = encoded_config(match)
    resolved = answered(match, slot, config)
    cache.keep(address, version, config)
    cache.keep_answer(answer_key(match, slot), resolved.etag, resolved.document)
    return resolved


async def _match(
    database: Database,
    organization_id: uuid.UUID,
    address: Address,
    sip_domain: str,
    known: Known | None,
) -> Match | None:
    if isinstance(address, PhoneAddress):
        return await repository.by_phone_number(
            database, organization_id, address.number, address.slot, known
        )
    if address.domain != sip_domain.lower():
        return None
    return await repository.by_sip_agent(database, organization_id, address.agent_id, known)


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names the current ETag (weak comparison, as RFC 9110 asks for
    GET), or is `*`."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
