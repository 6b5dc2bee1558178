"""Why a crawl failed, in a form a workflow can act on: a machine `code`, a human message, and
`transient` (True: retrying later may succeed; False: retrying is pointless)."""

from __future__ import annotations


class CrawlError(Exception):
    code: str = "crawl_failed"
    transient: bool = False

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class SiteUnreachable(CrawlError):
    """Timeouts, connection errors, 5xx/429 on the start page: the site may be back later."""

    code = "site_unreachable"
    transient = True


class BlockedAddress(CrawlError):
    """The host resolves to an address we must not connect to (SSRF guard)."""

    code = "blocked_address"


class PrivateAddress(BlockedAddress):
    """Refused only because private networks are not allowed: an operator setting
    (`CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS`) would let it through."""


class InvalidStartUrl(CrawlError):
    code = "invalid_start_url"


class NotHtml(CrawlError):
    code = "not_html"


class NothingToCrawl(CrawlError):
    """The start page exists but yields nothing: 4xx, disallowed by robots.txt, too large,
    redirect loop, too many redirects."""

    code = "nothing_to_crawl"
