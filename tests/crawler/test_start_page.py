"""When the start page cannot be had, the crawl fails with an error that says whether a retry
may help (transient) or not (permanent)."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import httpx
import pytest

from callplane.crawler import (
    CrawlError,
    CrawlLimits,
    InvalidStartUrl,
    NothingToCrawl,
    NotHtml,
    SiteUnreachable,
    crawl,
)
from tests.support.processes import free_port
from tests.support.site import FakeResolver, LocalSite, Reply, Route, html, redirect

Serve = Callable[[dict[str, Route]], LocalSite]


async def test_closed_port_is_unreachable_and_transient() -> None:
    port = free_port()
    with pytest.raises(SiteUnreachable) as failed:
        await crawl(f"http://127.0.0.1:{port}/", allow_private_networks=True)
    assert failed.value.code == "site_unreachable" and failed.value.transient is True
    assert failed.value.message.startswith(f"Could not fetch http://127.0.0.1:{port}/robots.txt: ")
    assert isinstance(failed.value, CrawlError)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
async def test_server_errors_on_the_start_page_are_transient(serve: Serve, status: int) -> None:
    site = serve({"/": Reply(status=status, body="busy")})
    with pytest.raises(SiteUnreachable) as failed:
        await crawl(site.url, allow_private_networks=True)
    assert failed.value.transient is True
    assert failed.value.message == f"{site.url}/ answered HTTP {status}."


async def test_robots_txt_server_error_is_transient(serve: Serve) -> None:
    site = serve({"/robots.txt": Reply(status=503), "/": html("hi")})
    with pytest.raises(SiteUnreachable) as failed:
        await crawl(site.url, allow_private_networks=True)
    assert failed.value.message == f"{site.url}/robots.txt answered HTTP 503."
    assert site.page_hits() == {}


@pytest.mark.parametrize("status", [404, 410, 403, 401])
async def test_client_errors_on_the_start_page_are_permanent(serve: Serve, status: int) -> None:
    site = serve({"/": Reply(status=status, body="no")})
    with pytest.raises(NothingToCrawl) as failed:
        await crawl(site.url, allow_private_networks=True)
    assert failed.value.code == "nothing_to_crawl" and failed.value.transient is False
    assert failed.value.message == f"{site.url}/ answered HTTP {status}."


async def test_start_page_that_is_not_html(serve: Serve) -> None:
    site = serve({"/": Reply(body="{}", content_type="application/json")})
    with pytest.raises(NotHtml) as failed:
        await crawl(site.url, allow_private_networks=True)
    assert failed.value.code == "not_html" and failed.value.transient is False
    assert failed.value.message == f"{site.url}/ is not an HTML page (application/json)."

    site.routes["/"] = Reply(body="<p>hi</p>", content_type=None)
    with pytest.raises(NotHtml, match=r"\(no Content-Type\)"):
        await crawl(site.url, allow_private_networks=True)


async def test_start_page_disallowed_by_robots_txt(serve: Serve) -> None:
    site = serve(
        {
            "/robots.txt": Reply(
                body="User-agent: callplane-crawler\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
                content_type="text/plain",
            ),
            "/": html("hi"),
        }
    )
    with pytest.raises(NothingToCrawl) as failed:
        await crawl(site.url, allow_private_networks=True)
    assert failed.value.message == f"{site.url}/ is disallowed by robots.txt."
    assert site.page_hits() == {}


async def test_start_page_too_large_or_looping(serve: Serve) -> None:
    site = serve({"/": html("x" * 5000), "/a": redirect("/b"), "/b": redirect("/a")})
    limits = CrawlLimits(max_bytes_per_page=1000)
    with pytest.raises(NothingToCrawl, match="larger than the 1,000 byte limit"):
        await crawl(site.url, limits=limits, allow_private_networks=True)
    with pytest.raises(NothingToCrawl) as failed:
        await crawl(f"{site.url}/a", allow_private_networks=True)
    assert failed.value.message == (
        f"Redirect loop: {site.url}/a \u2192 {site.url}/b \u2192 {site.url}/a."
    )


async def test_slow_start_page_is_transient(serve: Serve) -> None:
    site = serve({"/": Reply(body="late", delay=1)})
    with pytest.raises(SiteUnreachable) as failed:
        await crawl(
            site.url,
            limits=CrawlLimits(request_timeout_seconds=0.2),
            allow_private_networks=True,
        )
    assert failed.value.message == f"{site.url}/ did not answer within 0.2 s."

    with pytest.raises(SiteUnreachable) as failed:
        await crawl(
            site.url,
            limits=CrawlLimits(total_timeout_seconds=0.2),
            allow_private_networks=True,
        )
    assert (
        failed.value.message == f"{site.url}/ did not answer within the crawl time limit (0.2 s)."
    )


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://acme.test/",
        "mailto:someone@acme.test",
        "javascript:alert(1)",
        "http://user:secret@acme.test/",
        "http://exa mple.com/",
        "http://[::1/",
        "http://999999999999/",
        "http://0177.0.0.1/",
        "http://1.2.3.4.5/",
        "http:///path",
        "http://[fe80::1%25eth0]/",
    ],
)
async def test_invalid_start_urls(url: str) -> None:
    resolver = FakeResolver({})
    with pytest.raises(InvalidStartUrl) as failed:
        await crawl(url, resolver=resolver, transport=httpx.MockTransport(_unreachable))
    assert failed.value.code == "invalid_start_url" and failed.value.transient is False
    assert resolver.calls == []


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.url}")


async def test_bare_domain_means_https() -> None:
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text="<p>hi</p>")

    resolver = FakeResolver({"acme.example": ["93.184.216.34"]})
    profile = await crawl(
        "  Acme.Example  ", resolver=resolver, transport=httpx.MockTransport(handler)
    )
    assert profile.url == "https://acme.example/" and profile.domain == "acme.example"
    assert requests == ["https://acme.example/robots.txt", "https://acme.example/"]


async def test_compressed_bodies_are_inflated_within_the_limit(serve: Serve) -> None:
    """We ask for identity, but a server may compress anyway; a bomb is refused, not inflated."""
    page = b"<title>Zipped</title><p>" + b"hello " * 100 + b"</p>"
    bomb = gzip.compress(b"<p>" + b" " * 5_000_000 + b"</p>")
    site = serve(
        {
            "/": Reply(body=gzip.compress(page), headers={"Content-Encoding": "gzip"}),
            "/bomb": Reply(body=bomb, headers={"Content-Encoding": "gzip"}),
            "/odd": Reply(body=b"xx", headers={"Content-Encoding": "br"}),
        }
    )
    assert len(bomb) < 10_000
    profile = await crawl(site.url, allow_private_networks=True)
    assert profile.pages[0].title == "Zipped"

    limits = CrawlLimits(max_bytes_per_page=100_000)
    with pytest.raises(NothingToCrawl, match="larger than the 100,000 byte limit"):
        await crawl(f"{site.url}/bomb", limits=limits, allow_private_networks=True)
    with pytest.raises(NothingToCrawl, match="unsupported Content-Encoding 'br'"):
        await crawl(f"{site.url}/odd", allow_private_networks=True)
