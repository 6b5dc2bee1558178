"""Crawl a company website into a `SiteProfile` (SPEC §8, create-from-website steps 1-2).

    profile = await crawl("https://acme-dental.example")

Same site only, robots.txt honoured, HTML only, bounded pages/depth/bytes/time, SSRF-guarded
with pinned addresses (see `callplane.crawler.guard`). Failures to get the start page raise a
`CrawlError` whose `code` and `transient` tell a workflow what happened and whether to retry.
"""

from callplane.crawler.crawl import CrawlLimits, crawl
from callplane.crawler.errors import (
    BlockedAddress,
    CrawlError,
    InvalidStartUrl,
    NothingToCrawl,
    NotHtml,
    SiteUnreachable,
)
from callplane.crawler.fetch import USER_AGENT
from callplane.crawler.guard import Resolver, SystemResolver
from callplane.crawler.profile import SitePage, SiteProfile

__all__ = [
    "USER_AGENT",
    "BlockedAddress",
    "CrawlError",
    "CrawlLimits",
    "InvalidStartUrl",
    "NotHtml",
    "NothingToCrawl",
    "Resolver",
    "SitePage",
    "SiteProfile",
    "SiteUnreachable",
    "SystemResolver",
    "crawl",
]
