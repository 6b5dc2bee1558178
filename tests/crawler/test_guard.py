"""The SSRF guard: private, loopback, link-local... addresses are refused, in every form, at every
hop, and the connection goes to the very address that was checked (no DNS rebinding).

Crawls of "public" hosts use an httpx.MockTransport, so nothing leaves the process."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable, Iterable

import httpcore
import httpx
import pytest

from callplane.crawler import BlockedAddress, CrawlLimits, SiteUnreachable, crawl
from callplane.crawler.guard import AddressGuard, PinnedTransport, blocked_reason
from tests.support.site import FakeResolver, LocalSite, Route, html

Serve = Callable[[dict[str, Route]], LocalSite]

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
PAGE = "<html><head><title>Shop</title></head><body>Hello</body></html>"


class MockSite:
    """An in-memory website: answers per URL, remembers every request."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get(str(request.url), httpx.Response(404))

    @property
    def hosts(self) -> set[str]:
        return {request.url.host for request in self.requests}


def page(body: str = PAGE) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "text/html"}, text=body)


def moved(location: str) -> httpx.Response:
    return httpx.Response(302, headers={"Location": location})


async def test_loopback_site_is_refused_unless_private_networks_are_allowed(serve: Serve) -> None:
    site = serve({"/": html("hi")})
    with pytest.raises(BlockedAddress) as refused:
        await crawl(site.url)
    assert refused.value.code == "blocked_address" and refused.value.transient is False
    assert refused.value.message == (
        "Refusing to connect to 127.0.0.1: it is a loopback address "
        "(private networks are not allowed)."
    )
    assert refused.value.url == f"{site.url}/"

    resolver = FakeResolver({"acme.test": ["127.0.0.1"]})
    with pytest.raises(BlockedAddress) as refused:
        await crawl(f"http://acme.test:{site.port}/", resolver=resolver)
    assert refused.value.message == (
        "Refusing to connect to acme.test: it resolves to an address that is not public "
        "(private networks are not allowed)."
    )
    assert site.hits == {}  # not even robots.txt

    profile = await crawl(site.url, allow_private_networks=True)
    assert [p.url for p in profile.pages] == [f"{site.url}/"]


async def test_the_system_resolver_is_guarded_and_pinned_too(serve: Serve) -> None:
    site = serve({"/": html("<p>hi</p>")})
    with pytest.raises(BlockedAddress) as refused:
        await crawl(f"http://localhost:{site.port}/")
    assert refused.value.message == (
        "Refusing to connect to localhost: it resolves to an address that is not public "
        "(private networks are not allowed)."
    )
    assert site.hits == {}

    # localhost may answer ::1 first; the server only listens on 127.0.0.1: the next is tried.
    profile = await crawl(f"http://localhost:{site.port}/", allow_private_networks=True)
    assert profile.domain == "localhost" and profile.pages[0].text == "hi"
    assert set(site.host_headers) == {f"localhost:{site.port}"}


@pytest.mark.parametrize(
    ("url", "address", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1", "loopback"),
        ("http://127.1/", "127.0.0.1", "loopback"),
        ("http://2130706433/", "127.0.0.1", "loopback"),
        ("http://0x7f.0.0.1/", "127.0.0.1", "loopback"),
        ("http://017700000001/", "127.0.0.1", "loopback"),
        ("http://0x7f000001./", "127.0.0.1", "loopback"),
        ("http://[::1]/", "::1", "loopback"),
        ("http://[fe80::1]:8080/", "fe80::1", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1", "loopback (embedded 127.0.0.1)"),
        ("http://[::ffff:10.1.2.3]/", "::ffff:a01:203", "private (embedded 10.1.2.3)"),
        ("http://[2002:7f00:1::]/", "2002:7f00:1::", "loopback (embedded 127.0.0.1)"),
        ("http://[64:ff9b::a00:5]/", "64:ff9b::a00:5", "private (embedded 10.0.0.5)"),
        ("http://[fc00::1]/", "fc00::1", "private"),
        ("http://[::]/", "::", "unspecified"),
        ("http://[ff02::1]/", "ff02::1", "multicast"),
        ("http://10.0.0.5:8080/", "10.0.0.5", "private"),
        ("http://192.168.1.1./", "192.168.1.1", "private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
        ("http://100.64.0.1/", "100.64.0.1", "not globally routable"),
        ("http://0.0.0.0/", "0.0.0.0", "unspecified"),
        ("http://0/", "0.0.0.0", "unspecified"),
        ("http://224.0.0.1/", "224.0.0.1", "multicast"),
        ("http://240.0.0.1/", "240.0.0.1", "private"),
    ],
)
async def test_ip_literals_are_refused(url: str, address: str, reason: str) -> None:
    site = MockSite({})
    resolver = FakeResolver({})
    with pytest.raises(BlockedAddress) as refused:
        await crawl(url, resolver=resolver, transport=site.transport)
    assert refused.value.message == (
        f"Refusing to connect to {address}: it is a {reason} address "
        "(private networks are not allowed)."
    )
    assert site.requests == [] and resolver.calls == []


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        [PUBLIC_V4, "10.0.0.5"],  # one bad answer is enough
        ["172.16.0.1"],
        ["192.168.0.10"],
        ["127.0.0.53"],
        ["::1"],
        ["fe80::1%eth0"],
        [PUBLIC_V6, "fd00::1"],
        ["::ffff:127.0.0.1"],
        ["169.254.169.254"],
        ["not-an-address"],
    ],
)
async def test_names_resolving_to_private_addresses_are_refused(answers: list[str]) -> None:
    site = MockSite({"https://evil.example/": page()})
    resolver = FakeResolver({"evil.example": answers})
    with pytest.raises(BlockedAddress) as refused:
        await crawl("https://evil.example/", resolver=resolver, transport=site.transport)
    assert refused.value.message.startswith("Refusing to connect to evil.example: ")
    # Never what the name resolves to: a refusal must not let a user map internal DNS.
    for answer in answers:
        assert answer.split("%")[0] not in refused.value.message
    assert "embedded" not in refused.value.message
    assert site.requests == []


async def test_public_answers_are_allowed_and_private_ones_when_permitted() -> None:
    site = MockSite({"https://shop.example/": page(), "https://intranet.example/": page()})
    resolver = FakeResolver(
        {
            "shop.example": [PUBLIC_V4, PUBLIC_V6, f"::ffff:{PUBLIC_V4}", "64:ff9b::5db8:d822"],
            "intranet.example": ["10.0.0.5"],
        }
    )
    profile = await crawl("shop.example", resolver=resolver, transport=site.transport)
    assert profile.url == "https://shop.example/" and profile.name == "Shop"

    profile = await crawl(
        "https://intranet.example/",
        resolver=resolver,
        transport=site.transport,
        allow_private_networks=True,
    )
    assert profile.url == "https://intranet.example/"
    assert [str(r.url) for r in site.requests] == [
        "https://shop.example/robots.txt",
        "https://shop.example/",
        "https://intranet.example/robots.txt",
        "https://intranet.example/",
    ]


async def test_a_redirect_to_a_private_address_is_refused() -> None:
    site = MockSite(
        {
            "https://shop.example/": moved("http://internal.example/admin"),
            "https://shop.example/metadata": moved("http://169.254.169.254/latest/"),
            "https://shop.example/home": page('<a href="/go">go</a> <a href="/ok">ok</a>'),
            "https://shop.example/go": moved("https://www.shop.example/admin"),
            "https://shop.example/ok": page("fine"),
        }
    )
    resolver = FakeResolver(
        {
            "shop.example": [PUBLIC_V4],
            "internal.example": ["10.0.0.5"],
            "www.shop.example": ["192.168.0.2"],
        }
    )

    with pytest.raises(BlockedAddress) as refused:
        await crawl("https://shop.example/", resolver=resolver, transport=site.transport)
    assert refused.value.message == (
        "Refusing to connect to internal.example: it resolves to an address that is not public "
        "(private networks are not allowed)."
    )
    assert refused.value.url == "http://internal.example/admin"

    with pytest.raises(BlockedAddress) as refused:
        await crawl("https://shop.example/metadata", resolver=resolver, transport=site.transport)
    assert refused.value.url == "http://169.254.169.254/latest/"

    # Not the start page: the page is skipped, the crawl goes on.
    profile = await crawl("https://shop.example/home", resolver=resolver, transport=site.transport)
    assert [p.url for p in profile.pages] == [
        "https://shop.example/home",
        "https://shop.example/ok",
    ]
    assert profile.warnings == [
        "Skipped: Refusing to connect to www.shop.example: it resolves to an address that is "
        "not public (private networks are not allowed)."
    ]
    assert site.hosts == {"shop.example"}


async def test_unresolvable_host_is_transient() -> None:
    site = MockSite({})
    with pytest.raises(SiteUnreachable) as failed:
        await crawl("https://nowhere.example/", resolver=FakeResolver({}), transport=site.transport)
    assert failed.value.transient is True and failed.value.code == "site_unreachable"
    assert failed.value.message == (
        "Could not resolve nowhere.example: [Errno -2] Name or service not known."
    )
    assert site.requests == []


class _Recorder(httpcore.AsyncNetworkBackend):
    """Records where the transport connects to; the TLS handshake records its server name."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self.server_names: list[str | None] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connections.append((host, port))
        return _Stream(self)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AssertionError("not used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        self._recorder.server_names.append(server_hostname)
        raise httpcore.ConnectError("test: stop after recording")

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        raise httpcore.WriteError("test: stop after recording")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        raise httpcore.ReadError("test: stop after recording")

    async def aclose(self) -> None:
        pass


class _Rebinding:
    """A name that answers a public address once, then a private one (DNS rebinding)."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [PUBLIC_V4] if self.calls == 1 else ["127.0.0.1"]


async def test_connections_go_to_the_checked_address() -> None:
    resolver = _Rebinding()
    guard = AddressGuard(resolver)
    recorder = _Recorder()
    transport = PinnedTransport(guard, network_backend=recorder)
    async with httpx.AsyncClient(transport=transport) as client:
        assert await guard.vet("rebind.example", 443) == [PUBLIC_V4]  # the crawler's check
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await client.get("https://rebind.example/")
        with pytest.raises(httpx.TransportError):
            await client.get("http://rebind.example:8080/")

    assert resolver.calls == 1  # once per crawl, never again at connect time
    assert recorder.connections == [(PUBLIC_V4, 443), (PUBLIC_V4, 443), (PUBLIC_V4, 8080)]
    assert recorder.server_names == ["rebind.example", "rebind.example"]  # SNI: the name


async def test_the_transport_checks_hosts_it_was_not_told_about() -> None:
    recorder = _Recorder()
    transport = PinnedTransport(
        AddressGuard(FakeResolver({"evil.example": [PUBLIC_V4, "10.0.0.5"]})),
        network_backend=recorder,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(BlockedAddress):
            await client.get("http://evil.example/")
        with pytest.raises(BlockedAddress):
            await client.get("http://[::1]:8000/")
    assert recorder.connections == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (PUBLIC_V4, None),
        (PUBLIC_V6, None),
        (f"::ffff:{PUBLIC_V4}", None),
        ("64:ff9b::5db8:d822", None),  # NAT64 of a public address
        ("2001::1", "private"),  # Teredo
        ("198.18.0.1", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("fe80::1", "link-local"),
        ("::ffff:169.254.1.1", "link-local (embedded 169.254.1.1)"),
    ],
)
def test_blocked_reason(address: str, reason: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


async def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_pages"):
        CrawlLimits(max_pages=0)
    with pytest.raises(ValueError, match="timeouts"):
        CrawlLimits(total_timeout_seconds=0)
