"""One delivery attempt over HTTP: signed, through the crawler's SSRF guard, redirects not followed.

Signed per the Standard Webhooks specification (https://www.standardwebhooks.com): receivers
verify with its libraries (`standardwebhooks` in Python) instead of code of their own.

A webhook URL is chosen by users, exactly like a crawl's start URL, so it gets the same guard:
every host is resolved and vetted, and the connection is pinned to the vetted addresses (no DNS
rebinding). Only the start of the response body is read, and kept.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

import httpx

from callplane.crawler.errors import CrawlError
from callplane.crawler.guard import AddressGuard, PinnedTransport
from callplane.crawler.urls import host_and_port

USER_AGENT = "callplane-webhooks/0.1"
EXCERPT_BYTES = 256
SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key a `whsec_<base64>` secret stands for (Standard Webhooks)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(mac).decode()}"


def headers(delivery_id: uuid.UUID, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers: the message id is the delivery's, the same on every
    attempt of it, so a receiver can drop an attempt it already processed."""
    message_id = str(delivery_id)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None  # None when the receiver answered 2xx
    response: str | None  # the start of the response body
    permanent: bool = False  # retrying cannot help (the address is refused)

    @property
    def delivered(self) -> bool:
        return self.error is None


async def post(
    url: str,
    body: bytes,
    request_headers: dict[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 (a limit on the whole exchange, passed down as data)
    allow_private_networks: bool,
) -> Outcome:
    guard = AddressGuard(allow_private_networks=allow_private_networks)
    client = httpx.AsyncClient(
        transport=PinnedTransport(guard, max_connections=1),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
    try:
        async with client, asyncio.timeout(timeout):
            await guard.vet(*host_and_port(url))
            async with client.stream("POST", url, content=body, headers=request_headers) as reply:
                excerpt = await _excerpt(reply)
    except CrawlError as error:  # refused by the guard (permanent), or the host does not resolve
        return Outcome(None, error.message, None, permanent=not error.transient)
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, f"No response within {timeout:g} s.", None)
    except (httpx.HTTPError, httpx.StreamError) as error:
        return Outcome(None, f"{type(error).__name__}: {error}", None)
    except (httpx.InvalidURL, ValueError) as error:
        return Outcome(None, f"Invalid URL: {error}", None, permanent=True)
    status = reply.status_code
    if 200 <= status < 300:
        return Outcome(status, None, excerpt)
    note = " (redirects are not followed)" if 300 <= status < 400 else ""
    return Outcome(status, f"HTTP {status}{note}", excerpt)


async def _excerpt(reply: httpx.Response) -> str | None:
    data = b""
    async for chunk in reply.aiter_raw():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    text = data[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "")
    return text or None
