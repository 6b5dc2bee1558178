"""The crawl: start page first (its redirects decide which site we are on), then the site's
links breadth-first, level by level, within the page, depth and time limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from callplane.crawler.errors import CrawlError, SiteUnreachable
from callplane.crawler.extract import PageData, extract_page, facts_from_jsonld, name_from_title
from callplane.crawler.fetch import AlreadyKnown, FetchedPage, Fetcher
from callplane.crawler.guard import AddressGuard, PinnedTransport, Resolver
from callplane.crawler.profile import SitePage, SiteProfile
from callplane.crawler.urls import (
    hostname,
    looks_like_non_html,
    normalize_url,
    parse_start_url,
    site_key,
)


@dataclass(frozen=True)
class CrawlLimits:
    max_pages: int = 20  # pages requested, the start page included (redirect hops and
    # robots.txt do not count)
    max_depth: int = 2  # link hops from the start page
    max_bytes_per_page: int = 2 * 1024 * 1024
    total_timeout_seconds: float = 60
    max_redirects: int = 5
    concurrency: int = 4
    request_timeout_seconds: float = 10  # per request, body included
    max_text_chars_per_page: int = 20_000

    def __post_init__(self) -> None:
        minimums = {
            "max_pages": 1,
            "max_depth": 0,
            "max_bytes_per_page": 1,
            "max_redirects": 0,
            "concurrency": 1,
            "max_text_chars_per_page": 1,
        }
        for name, minimum in minimums.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"CrawlLimits.{name} must be at least {minimum}")
        if self.total_timeout_seconds <= 0 or self.request_timeout_seconds <= 0:
            raise ValueError("CrawlLimits timeouts must be positive")


async def crawl(
    start_url: str,
    *,
    limits: CrawlLimits | None = None,
    allow_private_networks: bool = False,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SiteProfile:
    """Crawl a company website and return what it says about the business.

    Raises a `CrawlError` only when the start page cannot be had (see `.code`, `.transient`);
    any other page that cannot be fetched is skipped and mentioned in `profile.warnings`.
    `transport` replaces the pinned network transport (tests); it is not closed here.
    """
    limits = limits or CrawlLimits()
    start = parse_start_url(start_url)
    guard = AddressGuard(resolver, allow_private_networks=allow_private_networks)
    client = httpx.AsyncClient(
        transport=(
            _Borrowed(transport)
            if transport is not None
            else PinnedTransport(guard, max_connections=limits.concurrency)
        ),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(limits.request_timeout_seconds),
    )
    async with client:
        return await _Crawl(client, guard, limits).run(start)


class _Borrowed(httpx.AsyncBaseTransport):
    """A caller's transport, used but left open for the caller to close."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


class _Crawl:
    def __init__(self, client: httpx.AsyncClient, guard: AddressGuard, limits: CrawlLimits):
        self._limits = limits
        self._fetcher = Fetcher(
            client,
            guard,
            max_bytes=limits.max_bytes_per_page,
            max_redirects=limits.max_redirects,
            request_timeout=limits.request_timeout_seconds,
        )
        self._visited: set[str] = set()
        self._pages: list[tuple[int, int, PageData]] = []  # (depth, order in level, page)
        self._warnings: list[str] = []

    async def run(self, start: str) -> SiteProfile:
        deadline = asyncio.get_running_loop().time() + self._limits.total_timeout_seconds
        try:
            async with asyncio.timeout_at(deadline):
                home = await self._fetcher.fetch_page(start)
        except TimeoutError:
            raise SiteUnreachable(
                f"{start} did not answer within the crawl time limit "
                f"({self._limits.total_timeout_seconds:g} s).",
                url=start,
            ) from None
        self._fetcher.site = site_key(home.url)
        self._visited.update({start, home.url})
        home_page = await self._extract(home)
        self._pages.append((0, 0, home_page))
        try:
            async with asyncio.timeout_at(deadline):
                await self._follow_links(home_page)
        except TimeoutError:
            self._warnings.append(
                f"Stopped at the crawl time limit ({self._limits.total_timeout_seconds:g} s); "
                f"kept the {len(self._pages)} pages fetched by then."
            )
        return self._profile()

    async def _follow_links(self, home: PageData) -> None:
        limits = self._limits
        budget = limits.max_pages - 1
        frontier = self._new_links([home])
        depth = 1
        semaphore = asyncio.Semaphore(limits.concurrency)
        while frontier and depth <= limits.max_depth:
            batch = frontier[:budget]
            left_out = len(frontier) - len(batch)
            if left_out:
                self._warnings.append(
                    f"Page limit ({limits.max_pages}) reached; {left_out} "
                    f"link{'s' if left_out != 1 else ''} not followed."
                )
            if not batch:
                return
            budget -= len(batch)
            self._visited.update(batch)
            results: list[PageData | None] = [None] * len(batch)

            async def visit(
                index: int, url: str, level: int, results: list[PageData | None]
            ) -> None:
                async with semaphore:
                    results[index] = await self._visit(url, level, index)

            await asyncio.gather(*(visit(i, url, depth, results) for i, url in enumerate(batch)))
            if left_out or depth == limits.max_depth:
                return
            frontier = self._new_links([page for page in results if page is not None])
            depth += 1

    def _new_links(self, pages: list[PageData]) -> list[str]:
        """Same-site page links not seen before, in the order the pages list them."""
        found: dict[str, None] = {}
        for page in pages:
            for link in page.links:
                url = normalize_url(link)
                if (
                    url is not None
                    and url not in self._visited
                    and site_key(url) == self._fetcher.site
                    and not looks_like_non_html(url)
                ):
                    found[url] = None
        return list(found)

    async def _visit(self, url: str, depth: int, order: int) -> PageData | None:
        try:
            fetched = await self._fetcher.fetch_page(url, known=self._visited)
        except AlreadyKnown:
            return None
        except CrawlError as error:
            self._warnings.append(f"Skipped: {error.message}")
            return None
        if fetched.url != url:
            if fetched.url in self._visited:  # a redirect to a page we have (or will have)
                return None
            self._visited.add(fetched.url)
        try:
            page = await self._extract(fetched)
        except Exception as error:
            self._warnings.append(f"Skipped {fetched.url}: could not read it ({error!r}).")
            return None
        self._pages.append((depth, order, page))
        return page

    async def _extract(self, fetched: FetchedPage) -> PageData:
        page = await asyncio.to_thread(
            extract_page,
            fetched.url,
            fetched.html,
            max_text_chars=self._limits.max_text_chars_per_page,
        )
        self._warnings += page.warnings
        return page

    def _profile(self) -> SiteProfile:
        pages = [page for *_, page in sorted(self._pages, key=lambda entry: entry[:2])]
        home = pages[0]
        facts = facts_from_jsonld(item for page in pages for item in page.jsonld)
        return SiteProfile(
            url=home.url,
            domain=hostname(home.url),
            name=facts.name or home.site_name or name_from_title(home.title),
            description=facts.description or home.description,
            telephone=facts.telephone or _first(page.telephones for page in pages),
            email=facts.email or _first(page.emails for page in pages),
            address=facts.address,
            opening_hours=facts.opening_hours,
            services=facts.services,
            faqs=facts.faqs,
            pages=[
                SitePage(
                    url=page.url, title=page.title, description=page.description, text=page.text
                )
                for page in pages
            ],
            warnings=self._warnings,
        )


def _first(lists: Iterable[list[str]]) -> str | None:
    return next((values[0] for values in lists if values), None)
