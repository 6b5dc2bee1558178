"""Fetching one page politely and safely: robots.txt, redirects followed by hand (each hop is
checked against the SSRF guard, the same-site rule and the redirect limit), HTML only, and a
byte limit enforced while streaming. Every refusal is a `CrawlError`; the caller decides whether
it is fatal (start page) or a warning (any other page)."""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Container
from dataclasses import dataclass, replace

import httpx
from protego import Protego

from callplane.crawler.errors import (
    CrawlError,
    NothingToCrawl,
    NotHtml,
    SiteUnreachable,
)
from callplane.crawler.guard import AddressGuard
from callplane.crawler.urls import host_and_port, normalize_url, origin, site_key
from callplane.observability.counters import CRAWLER_FETCHES

USER_AGENT = "callplane-crawler/0.1 (+https://github.com/callplane/callplane)"
ROBOTS_AGENT = "callplane-crawler"
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: crawlers must parse at least 500 KiB
ROBOTS_MAX_REDIRECTS = 5
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REQUEST_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
    # Uncompressed bodies, so the byte limit bounds memory too (a small gzip body can inflate a
    # thousandfold in one decoded chunk).
    "Accept-Encoding": "identity",
}

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class AlreadyKnown(Exception):
    """The page redirects to a URL the crawl already has (or has scheduled)."""


@dataclass(frozen=True)
class FetchedPage:
    url: str  # after redirects
    html: str


@dataclass(frozen=True)
class _Response:
    status: int
    location: str | None  # set for redirects
    content_type: str
    charset: str | None
    body: bytes
    too_large: bool


class Fetcher:
    """Fetches pages for one crawl. `site` is the same-site constraint; None until the start page
    (whose redirects may lead to another host: that host becomes the site) has been fetched."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        guard: AddressGuard,
        *,
        max_bytes: int,
        max_redirects: int,
        request_timeout: float,
    ) -> None:
        self._client = client
        self._guard = guard
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._request_timeout = request_timeout
        self.site: tuple[str, int | None] | None = None
        self._robots: dict[str, Protego | SiteUnreachable | None] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def fetch_page(self, url: str, *, known: Container[str] = ()) -> FetchedPage:
        """GET an HTML page at a canonical URL. Raises a CrawlError saying why it was refused,
        or AlreadyKnown when it redirects to one of the `known` URLs."""
        try:
            page = await self._fetch_page(url, known)
        except CrawlError as error:
            CRAWLER_FETCHES.labels(error.code).inc()
            raise
        except AlreadyKnown:
            CRAWLER_FETCHES.labels("already_known").inc()
            raise
        CRAWLER_FETCHES.labels("ok").inc()
        return page

    async def _fetch_page(self, url: str, known: Container[str]) -> FetchedPage:
        seen = [url]
        current = url
        for _hop in range(self._max_redirects + 1):
            await self._check_address(current)
            if not await self._robots_allow(current):
                raise NothingToCrawl(f"{current} is disallowed by robots.txt.", url=current)
            response = await self._request(current, max_bytes=self._max_bytes, html_only=True)
            if response.location is None:
                return self._page(current, response)
            target = normalize_url(response.location, current)
            if target is None:
                raise NothingToCrawl(
                    f"{current} redirects to a URL that cannot be crawled ({response.location!r}).",
                    url=current,
                )
            if self.site is not None and site_key(target) != self.site:
                raise NothingToCrawl(f"{current} redirects off-site to {target}.", url=current)
            if target in seen:
                loop = " → ".join([*seen[seen.index(target) :], target])
                raise NothingToCrawl(f"Redirect loop: {loop}.", url=url)
            if target in known:
                raise AlreadyKnown(target)
            seen.append(target)
            current = target
        raise NothingToCrawl(f"{url} redirects more than {self._max_redirects} times.", url=url)

    def _page(self, url: str, response: _Response) -> FetchedPage:
        if response.status >= 500 or response.status in (408, 429):
            raise SiteUnreachable(f"{url} answered HTTP {response.status}.", url=url)
        if not 200 <= response.status < 300:
            raise NothingToCrawl(f"{url} answered HTTP {response.status}.", url=url)
        if response.content_type not in HTML_TYPES:
            shown = response.content_type or "no Content-Type"
            raise NotHtml(f"{url} is not an HTML page ({shown}).", url=url)
        if response.too_large:
            raise NothingToCrawl(
                f"{url} is larger than the {self._max_bytes:,} byte limit per page.", url=url
            )
        return FetchedPage(url=url, html=_decode(response.body, response.charset))

    async def _check_address(self, url: str) -> None:
        host, port = host_and_port(url)
        try:
            await self._guard.vet(host, port)
        except CrawlError as error:
            error.url = url
            raise

    async def _request(self, url: str, *, max_bytes: int, html_only: bool) -> _Response:
        """One GET, without following redirects. Reads at most max_bytes + 1 of the body, and
        none of it for redirects, errors, too-long Content-Lengths and (html_only) non-HTML."""
        try:
            async with (
                asyncio.timeout(self._request_timeout),
                self._client.stream("GET", url, headers=REQUEST_HEADERS) as response,
            ):
                content_type = response.headers.get("content-type", "").split(";")[0]
                result = _Response(
                    status=response.status_code,
                    location=None,
                    content_type=content_type.strip().lower(),
                    charset=response.charset_encoding,
                    body=b"",
                    too_large=False,
                )
                if response.is_redirect:
                    return replace(result, location=response.headers["location"])
                if _content_length(response) > max_bytes:
                    return replace(result, too_large=True)
                if not response.is_success or (html_only and result.content_type not in HTML_TYPES):
                    return result
                if response.is_stream_consumed:  # a transport that hands over read responses
                    too_large = len(response.content) > max_bytes
                    return replace(result, body=response.content, too_large=too_large)
                raw = bytearray()
                async for chunk in response.aiter_raw():
                    raw += chunk
                    if len(raw) > max_bytes:
                        return replace(result, too_large=True)
                encoding = response.headers.get("content-encoding", "")
                body = _decompress(bytes(raw), encoding, max_bytes)
                if body is None:
                    return replace(result, too_large=True)
                return replace(result, body=body)
        except TimeoutError:
            raise SiteUnreachable(
                f"{url} did not answer within {self._request_timeout:g} s.", url=url
            ) from None
        except httpx.TimeoutException:
            raise SiteUnreachable(f"{url} timed out.", url=url) from None
        except httpx.TransportError as error:
            reason = str(error) or type(error).__name__
            raise SiteUnreachable(f"Could not fetch {url}: {reason}.", url=url) from None
        except _UndecodableBody as error:
            raise NothingToCrawl(f"{url}: {error}.", url=url) from None

    async def _robots_allow(self, url: str) -> bool:
        key = origin(url)
        async with self._robots_locks.setdefault(key, asyncio.Lock()):
            if key not in self._robots:
                try:
                    self._robots[key] = await self._load_robots(key)
                except SiteUnreachable as error:
                    self._robots[key] = error
                except CrawlError:  # e.g. a redirect to a refused address: as if absent
                    self._robots[key] = None
        rules = self._robots[key]
        if isinstance(rules, SiteUnreachable):
            # RFC 9309: robots.txt unreachable for server or network errors → disallow all.
            raise SiteUnreachable(rules.message, url=rules.url)
        return rules is None or rules.can_fetch(url, ROBOTS_AGENT)

    async def _load_robots(self, site_origin: str) -> Protego | None:
        """The site's rules; None (everything allowed) when there is no robots.txt."""
        url = f"{site_origin}/robots.txt"
        for _hop in range(ROBOTS_MAX_REDIRECTS + 1):
            await self._check_address(url)
            response = await self._request(url, max_bytes=ROBOTS_MAX_BYTES, html_only=False)
            if response.location is None:
                break
            target = normalize_url(response.location, url)
            if target is None or site_key(target) != site_key(site_origin):
                return None
            url = target
        else:
            return None
        if response.status >= 500 or response.status == 429:
            raise SiteUnreachable(f"{url} answered HTTP {response.status}.", url=url)
        if not 200 <= response.status < 300:
            return None
        text = response.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        try:
            return Protego.parse(text)
        except Exception:  # an unparsable robots.txt is treated as absent
            return None


class _UndecodableBody(Exception):
    pass


def _content_length(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length") or 0)
    except ValueError:
        return 0


def _decompress(raw: bytes, content_encoding: str, max_bytes: int) -> bytes | None:
    """The body without its Content-Encoding (we ask for none, but not every server listens),
    inflated at most to max_bytes: None when it would be larger."""
    encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
    body = raw
    for encoding in reversed(encodings):
        if encoding == "identity":
            continue
        if encoding in ("gzip", "x-gzip"):
            candidates = [zlib.MAX_WBITS | 16]
        elif encoding == "deflate":
            candidates = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, or raw as some send
        else:
            raise _UndecodableBody(f"unsupported Content-Encoding {encoding!r}")
        for wbits in candidates:
            try:
                inflated = zlib.decompressobj(wbits).decompress(body, max_bytes + 1)
                break
            except zlib.error:
                continue
        else:
            raise _UndecodableBody(f"body is not valid {encoding}")
        if len(inflated) > max_bytes:
            return None
        body = inflated
    return body


def _decode(body: bytes, charset: str | None) -> str:
    if charset is None:
        match = _META_CHARSET.search(body[:4096])
        charset = match.group(1).decode("ascii") if match else None
    if body.startswith(b"\xef\xbb\xbf"):
        charset = "utf-8-sig"
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
