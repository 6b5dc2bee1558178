"""Credential strings: `ak_<key_id>.<secret>` and `pat_<token_id>.<secret>`.

Secrets are 256 random bits; only their SHA-256 is stored and it is compared in constant time.
A fast hash is right here: the secret has full entropy, so there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ak", "pat"]


@dataclass(frozen=True)
class ParsedCredential:
    kind: Kind
    credential_id: uuid.UUID
    secret: str


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def format_credential(kind: Kind, credential_id: uuid.UUID, secret: str) -> str:
    return f"{kind}_{credential_id.hex}.{secret}"


def parse_credential(raw: str) -> ParsedCredential | None:
    """Split a bearer credential into its parts; None when it is not one of ours."""
    prefix, _, rest = raw.partition("_")
    if prefix not in ("ak", "pat") or "." not in rest:
        return None
    id_part, _, secret = rest.partition(".")
    if len(id_part) != 32 or not secret or len(secret) > 128:
        return None
    try:
        credential_id = uuid.UUID(hex=id_part)
    except ValueError:
        return None
    return ParsedCredential("ak" if prefix == "ak" else "pat", credential_id, secret)
