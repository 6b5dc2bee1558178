"""Secrets the server must read back (carrier auth tokens), encrypted at rest, and short-lived
signed tokens.

Both keys derive from `CALLPLANE_SECRET_KEY`: Fernet (AES-128-CBC + HMAC-SHA256, from
`cryptography`) for what is stored, HMAC-SHA256 for tokens. Outside production an unset key
falls back to a fixed development key, so `make run` works on a laptop; in production nothing is
encrypted or signed without a real key (`SecretKeyMissing`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from callplane.config import Settings
from callplane.errors import AppError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

DEVELOPMENT_KEY = "callplane-development-secret-key-not-for-production"


class SecretKeyMissing(AppError):
    status = 503
    code = "secret_key_missing"
    default_detail = (
        "CALLPLANE_SECRET_KEY is not set: in production carrier credentials cannot be stored "
        "or used without it."
    )


class BadToken(Exception):
    """A token that is malformed, forged or expired."""


def _master(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if settings.env == "production":
        raise SecretKeyMissing()
    return DEVELOPMENT_KEY.encode()


def _derive(settings: Settings, purpose: str) -> bytes:
    return hmac.new(_master(settings), purpose.encode(), hashlib.sha256).digest()


class SecretBox:
    """Encrypts and decrypts short strings with a key derived from the secret key."""

    def __init__(self, settings: Settings):
        # Imported on first use (~6 MB): most processes never store a carrier credential.
        from cryptography.fernet import Fernet

        self._fernet: Fernet = Fernet(base64.urlsafe_b64encode(_derive(settings, "fernet")))

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The plaintext; raises BadToken if the key changed or the value was tampered with."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise BadToken("cannot decrypt: wrong CALLPLANE_SECRET_KEY or tampered value") from exc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """`<payload>.<signature>` tokens: a JSON object with an expiry (`exp`, epoch seconds)."""

    def __init__(self, settings: Settings, purpose: str):
        self._key = _derive(settings, "token:" + purpose)

    def sign(self, payload: dict[str, Any], ttl_seconds: float) -> str:
        body = _b64(json.dumps({**payload, "exp": time.time() + ttl_seconds}).encode())
        return body + "." + _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def verify(self, token: str) -> dict[str, Any]:
        body, _, signature = token.partition(".")
        try:
            expected = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise BadToken("bad signature")
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError) as exc:
            raise BadToken("malformed token") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), float | int):
            raise BadToken("malformed token")
        if payload["exp"] < time.time():
            raise BadToken("expired token")
        return payload
