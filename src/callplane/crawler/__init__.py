"""Crawl a company website into a `SiteProfile` (SPEC §8, create-from-website steps 1-2).

    profile = await crawl("https://acme-dental.example")

Same site only, robots.txt honoured, HTML only, bounded pages/depth/bytes/time, SSRF-guarded
with pinned addresses (see `callplane.crawler.guard`). Failures to get the start page raise a
`CrawlError` whose `code` and `transient` tell a workflow what happened and whether to retry.
"""

from typing import TYPE_CHECKING, Any

from callplane.crawler.errors import (
    BlockedAddress,
    CrawlError,
    InvalidStartUrl,
    NothingToCrawl,
    NotHtml,
    PrivateAddress,
    SiteUnreachable,
)
from callplane.crawler.profile import SitePage, SiteProfile

if TYPE_CHECKING:
    from callplane.crawler.fetch import USER_AGENT
    from callplane.crawler.guard import Resolver, SystemResolver
    from callplane.crawler.site_crawl import CrawlLimits, crawl

# The crawling code pulls in trafilatura, lxml, extruct and selectolax (~15 MB); API processes
# that never crawl should not pay for them, so these names load on first use.
_LAZY = {
    "CrawlLimits": "callplane.crawler.site_crawl",
    "crawl": "callplane.crawler.site_crawl",
    "USER_AGENT": "callplane.crawler.fetch",
    "Resolver": "callplane.crawler.guard",
    "SystemResolver": "callplane.crawler.guard",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'callplane.crawler' has no attribute {name!r}")


__all__ = [
    "USER_AGENT",
    "BlockedAddress",
    "CrawlError",
    "CrawlLimits",
    "InvalidStartUrl",
    "NotHtml",
    "NothingToCrawl",
    "PrivateAddress",
    "Resolver",
    "SitePage",
    "SiteProfile",
    "SiteUnreachable",
    "SystemResolver",
    "crawl",
]
