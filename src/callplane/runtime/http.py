"""`http_request` actions: httpx through the crawler's SSRF guard.

Each request gets its own `AddressGuard` (names resolved once, connections pinned to the vetted
addresses) under the same switch as the crawler and webhooks,
`CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS`. Redirects are not followed (a redirect is the
answer), env proxies are ignored, the body is read up to `max_bytes` and refused beyond.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from callplane.crawler.errors import CrawlError
from callplane.crawler.guard import AddressGuard, PinnedTransport, Resolver
from callplane.crawler.urls import host_and_port

DEFAULT_MAX_BYTES = 256 * 1024
USER_AGENT = "callplane-agent/0.1"


class HttpActionError(Exception):
    """The request could not be made or answered: refused by the guard, timed out, too large."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any  # parsed JSON when the answer is JSON, else its text


class HttpCaller(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        timeout_seconds: float,
    ) -> HttpResult: ...


class GuardedHttp:
    """The real caller: one pinned client per request (its guard lives as long as it does)."""

    def __init__(
        self,
        *,
        allow_private_networks: bool,
        max_bytes: int = DEFAULT_MAX_BYTES,
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_private_networks = allow_private_networks
        self.max_bytes = max_bytes
        self._resolver = resolver

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        timeout_seconds: float,
    ) -> HttpResult:
        guard = AddressGuard(self._resolver, allow_private_networks=self.allow_private_networks)
        try:
            parsed = httpx.URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise HttpActionError("invalid_url", f"Not an http(s) URL: {url!r}.")
            await guard.vet(*host_and_port(url))
        except CrawlError as error:
            raise HttpActionError(error.code, error.message) from None
        except httpx.InvalidURL as error:
            raise HttpActionError("invalid_url", f"Invalid URL: {error}.") from None
        async with httpx.AsyncClient(
            transport=PinnedTransport(guard, max_connections=1),
            timeout=timeout_seconds,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        ) as client:
            try:
                async with client.stream(method, url, headers=headers, content=body) as response:
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > self.max_bytes:
                            raise HttpActionError(
                                "response_too_large",
                                f"The response is larger than {self.max_bytes} bytes.",
                            )
                    return HttpResult(response.status_code, _decode(response, bytes(data)))
            except CrawlError as error:
                raise HttpActionError(error.code, error.message) from None
            except httpx.TimeoutException:
                raise HttpActionError(
                    "timeout", f"No answer within {timeout_seconds:g} seconds."
                ) from None
            except httpx.HTTPError as error:
                raise HttpActionError("request_failed", f"The request failed: {error}.") from None


def _decode(response: httpx.Response, data: bytes) -> Any:
    text = data.decode(response.encoding or "utf-8", errors="replace")
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
