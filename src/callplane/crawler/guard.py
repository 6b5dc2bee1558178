"""The SSRF guard: the crawler fetches URLs chosen by users and by the sites themselves, so it must
never be steered into the operator's own network (cloud metadata, databases, admin consoles).

How it works:

* Refusals never name what a host resolves to (see `_refusal`): crawl warnings, workflow
  errors and webhook delivery attempts are shown to tenants.
* Every host is resolved once per crawl through a `Resolver`, and refused when ANY answer is not
  a globally routable address (loopback, private, link-local, multicast, reserved, unspecified,
  shared/CGNAT, ...; IPv4-mapped, 6to4 and NAT64 IPv6 addresses are judged by the IPv4
  address they embed). IP literals are checked without resolving, including the numeric forms
  browsers and getaddrinfo accept (`2130706433`, `0x7f.1`; see `urls.parse_ipv4_number_host`).
* DNS rebinding (a name that answers a public address when checked and a private one when
  connected to) is prevented by pinning: the checked answers are cached in the `AddressGuard`
  for the whole crawl, and the default transport (`PinnedTransport`) never resolves names
  itself. Its network backend asks the guard for the vetted addresses and opens the TCP
  connection to exactly those IPs. The request URL keeps the host name, so the Host header, TLS
  SNI and certificate verification all use the name, as they should.
* The guard runs at connect time as well as before each request, so even a connection made
  for a URL the crawler did not check first goes through it. Env proxies are disabled
  (`trust_env=False`): a proxy would make the connection on our behalf, unchecked.

With a caller-supplied transport (tests, special deployments) the pre-request check still runs
for every URL and redirect hop, but pinning is up to that transport.

`PinnedTransport` reuses httpx's AsyncHTTPTransport and swaps its (private) `_pool` for an
httpcore pool on the pinned backend; tests/crawler/test_guard.py fails if an httpx upgrade
breaks that.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from typing import Protocol

import httpcore
import httpx

from callplane.crawler.errors import BlockedAddress, PrivateAddress, SiteUnreachable
from callplane.crawler.urls import canonical_host, host_and_port, parse_start_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
LOOKUP_TIMEOUT_SECONDS = 2.0  # for checks made while a client waits (check_start)


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The IP addresses (as strings) `host` resolves to."""
        ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo), without blocking the event loop."""

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


def blocked_reason(address: IPAddress) -> str | None:
    """Why connecting to `address` is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour  # (Teredo is private as a whole)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = blocked_reason(embedded)
            if reason is not None or address.ipv4_mapped or address in _NAT64:
                return reason and f"{reason} (embedded {embedded})"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class AddressGuard:
    """Resolves and vets hosts; remembers the vetted addresses so connections use exactly them."""

    def __init__(self, resolver: Resolver | None = None, *, allow_private_networks: bool = False):
        self._resolver = resolver or SystemResolver()
        self._allow_private = allow_private_networks
        self._vetted: dict[str, list[str]] = {}  # host → the addresses checked, for the crawl
        self._locks: dict[str, asyncio.Lock] = {}

    async def vet(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for host:port. Raises BlockedAddress when any answer is
        not public (unless private networks are allowed), SiteUnreachable when it does not
        resolve."""
        try:
            host = canonical_host(host)
        except ValueError as error:
            raise BlockedAddress(f"Refusing host {host!r}: {error}.") from None
        if host in self._vetted:
            return self._vetted[host]
        async with self._locks.setdefault(host, asyncio.Lock()):
            if host not in self._vetted:
                self._vetted[host] = self._check(host, await self._addresses(host, port))
        return self._vetted[host]

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            answers = await self._resolver.resolve(host, port)
        except OSError as error:
            raise SiteUnreachable(f"Could not resolve {host}: {error}.") from None
        if not answers:
            raise SiteUnreachable(f"{host} does not resolve to any address.")
        try:
            return [ipaddress.ip_address(answer) for answer in answers]
        except ValueError:
            raise BlockedAddress(
                f"Refusing to connect to {host}: the resolver answered something that is not an "
                "IP address."
            ) from None

    def _check(self, host: str, addresses: Iterable[IPAddress]) -> list[str]:
        addresses = list(dict.fromkeys(addresses))
        if not self._allow_private:
            for address in addresses:
                reason = blocked_reason(address)
                if reason is not None:
                    raise PrivateAddress(_refusal(host, address, reason))
        return [str(address) for address in addresses]


def _refusal(host: str, address: IPAddress, reason: str) -> str:
    """The one wording of a refusal, for the crawler and for webhooks alike. An IP literal the
    user wrote may be named, with why; what a name resolves to never is, nor the kind of
    address: a refusal must not let a user map the operator's internal DNS."""
    if host == str(address):
        what = f"it is a {reason} address"
    else:
        what = "it resolves to an address that is not public"
    return f"Refusing to connect to {host}: {what} (private networks are not allowed)."


async def check_start(
    website: str,
    *,
    allow_private_networks: bool,
    resolver: Resolver | None = None,
    timeout: float = LOOKUP_TIMEOUT_SECONDS,  # noqa: ASYNC109 (a bound on the lookup, as data)
) -> None:
    """Refuse now what the first connection of a crawl of `website` would refuse, so a request
    that cannot succeed fails before any work is queued. Raises `InvalidStartUrl`,
    `BlockedAddress` (`PrivateAddress` when allowing private networks would lift it) or
    `SiteUnreachable` (the name does not resolve). A lookup slower than `timeout` proves
    nothing: it returns, and the crawl, which re-checks every hop, decides."""
    start = parse_start_url(website)
    guard = AddressGuard(resolver, allow_private_networks=allow_private_networks)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await guard.vet(*host_and_port(start))


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the guard's vetted addresses instead of resolving names."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.vet(host, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        assert last_error is not None  # vet() never returns an empty list
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the crawler does not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool built on the pinned network backend."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        max_connections: int = 10,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            http1=True,
            http2=False,
            retries=0,
            network_backend=PinnedNetworkBackend(guard, network_backend),
        )
