"""What a crawl of a company website yields: the pages and the facts drawn from them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SitePage:
    url: str
    title: str | None
    description: str | None
    text: str  # the page's main text (boilerplate removed)


@dataclass
class SiteProfile:
    """Facts about a business, from schema.org JSON-LD where present, else from the pages."""

    url: str  # the start URL after redirects
    domain: str  # its host name, lowercase, e.g. "acme-dental.test"
    name: str | None = None
    description: str | None = None
    telephone: str | None = None
    email: str | None = None
    address: str | None = None
    opening_hours: list[str] = field(default_factory=list)  # human-readable lines
    services: list[str] = field(default_factory=list)
    faqs: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)
    pages: list[SitePage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. pages skipped and why
