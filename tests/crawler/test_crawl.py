"""End to end: crawling a small website served on 127.0.0.1 by the test itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from callplane.crawler import USER_AGENT, CrawlLimits, crawl
from tests.support.site import FakeResolver, LocalSite, Reply, Route, endless_body, html, redirect

Serve = Callable[[dict[str, Route]], LocalSite]

LIMITS = CrawlLimits(max_bytes_per_page=64 * 1024, request_timeout_seconds=5)

BUSINESS = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebSite", "name": "Acme Dental website", "telephone": "+1-555-9999"},
        {
            "@type": ["Dentist"],
            "name": "Acme Dental",
            "description": "Family dentistry in Springfield.",
            "telephone": "+1-555-0100",
            "email": "hello@acme-dental.test",
            "address": {
                "@type": "PostalAddress",
                "streetAddress": "1 Main St",
                "addressLocality": "Springfield",
                "addressRegion": "IL",
                "postalCode": "62701",
                "addressCountry": {"@type": "Country", "name": "US"},
            },
            "openingHoursSpecification": [
                {
                    "@type": "OpeningHoursSpecification",
                    "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                    "opens": "09:00",
                    "closes": "17:00",
                },
                {
                    "@type": "OpeningHoursSpecification",
                    "dayOfWeek": "https://schema.org/Saturday",
                    "opens": "10:00:00",
                    "closes": "14:00:00",
                },
                {"dayOfWeek": "Sunday", "opens": "00:00", "closes": "00:00"},
                {
                    "dayOfWeek": "Monday",
                    "opens": "10:00",
                    "closes": "12:00",
                    "validFrom": "2025-12-24",
                    "validThrough": "2025-12-24",
                },
            ],
            "makesOffer": [
                {"@type": "Offer", "itemOffered": {"@type": "Service", "name": "Teeth cleaning"}}
            ],
            "hasOfferCatalog": {
                "@type": "OfferCatalog",
                "name": "Dental services",
                "itemListElement": [
                    {"@type": "Offer", "itemOffered": {"@type": "Service", "name": "Whitening"}},
                    {
                        "@type": "OfferCatalog",
                        "name": "Orthodontics",
                        "itemListElement": [
                            {"@type": "Service", "name": "Invisible braces"},
                            {"@type": "Service", "name": "whitening"},
                        ],
                    },
                ],
            },
        },
    ],
}
FAQ = {
    "@context": "https://schema.org",
    "@type": "FAQPage",
    "mainEntity": [
        {
            "@type": "Question",
            "name": "Do you take new patients?",
            "acceptedAnswer": {"@type": "Answer", "text": "<p>Yes, <b>always</b>.</p>"},
        },
        {
            "@type": "Question",
            "name": "Is parking available?",
            "acceptedAnswer": {"@type": "Answer", "text": "Free parking behind the building."},
        },
    ],
}
ABOUT_TEXT = (
    "We have cared for the smiles of Springfield since 1990. Our team of four dentists offers "
    "gentle, modern care for children and adults, with evening appointments twice a week."
)


def jsonld(data: dict[str, Any]) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def links(*hrefs: str) -> str:
    return "".join(f'<a href="{href}">link {i}</a> ' for i, href in enumerate(hrefs))


def acme_routes(other_port: int) -> dict[str, Route]:
    home_links = links(
        "/about",
        "/about#team",
        "/moved",
        "faq",
        "/private/secret",
        f"http://elsewhere.test:{other_port}/",
        f"http://127.0.0.1:{other_port}/x",
        "https://example.com/",
        "/big",
        "/endless",
        "/loop-a",
        "/brochure",
        "/logo.png",
        "/deep/1",
        "/missing",
        "mailto:other@acme-dental.test",
        "tel:+1-555-7777",
        "javascript:void(0)",
        "ftp://acme.test/file",
    )
    return {
        "/robots.txt": Reply(body="User-agent: *\nDisallow: /private\n", content_type="text/plain"),
        "/": html(
            f"<h1>Acme Dental</h1><p>Welcome!</p>{home_links}",
            head=f"<title>Home | Acme Dental</title>{jsonld(BUSINESS)}",
        ),
        "/about": html(
            f"<article><h1>About us</h1><p>{ABOUT_TEXT}</p></article>",
            head='<title>About</title><meta name="Description" content="Who we are">',
        ),
        "/moved": redirect("/about", 301),
        "/faq": html(f"<h1>FAQ</h1>{links('/')}", head=f"<title>FAQ</title>{jsonld(FAQ)}"),
        "/private/secret": html("secret"),
        "/big": html("<p>" + "x" * 100_000 + "</p>"),
        "/endless": endless_body,
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect("/loop-a"),
        "/brochure": Reply(body=b"%PDF-1.4 ...", content_type="application/pdf"),
        "/logo.png": Reply(body=b"\x89PNG", content_type="image/png"),
        "/deep/1": html(links("/deep/2"), head="<title>Deep 1</title>"),
        "/deep/2": html(links("/deep/3"), head="<title>Deep 2</title>"),
        "/deep/3": html("too deep"),
    }


async def test_crawls_the_site_and_extracts_the_business(serve: Serve) -> None:
    elsewhere = serve({"/": html("another site"), "/x": html("another site")})
    site = serve(acme_routes(elsewhere.port))
    resolver = FakeResolver({"acme.test": ["127.0.0.1"], "elsewhere.test": ["127.0.0.1"]})
    base = f"http://acme.test:{site.port}"

    started = time.monotonic()
    profile = await crawl(f"{base}/", limits=LIMITS, allow_private_networks=True, resolver=resolver)
    assert time.monotonic() - started < 5

    assert profile.url == f"{base}/"
    assert profile.domain == "acme.test"
    assert profile.name == "Acme Dental"
    assert profile.description == "Family dentistry in Springfield."
    assert profile.telephone == "+1-555-0100"
    assert profile.email == "hello@acme-dental.test"
    assert profile.address == "1 Main St, Springfield, IL 62701, US"
    assert profile.opening_hours == [
        "Monday\u2013Friday 09:00\u201317:00",
        "Saturday 10:00\u201314:00",
        "Sunday closed",
    ]
    assert profile.services == ["Teeth cleaning", "Whitening", "Invisible braces"]
    assert profile.faqs == [
        ("Do you take new patients?", "Yes, always."),
        ("Is parking available?", "Free parking behind the building."),
    ]

    assert [page.url for page in profile.pages] == [
        f"{base}/",
        f"{base}/about",
        f"{base}/faq",
        f"{base}/deep/1",
        f"{base}/deep/2",
    ]
    home, about, faq = profile.pages[:3]
    assert home.title == "Home | Acme Dental"
    assert about.title == "About" and about.description == "Who we are"
    assert ABOUT_TEXT in about.text
    assert faq.title == "FAQ"

    assert site.page_hits() == {
        "/": 1,
        "/about": 1,  # /about#team is the same page, and /moved redirects to it
        "/moved": 1,
        "/faq": 1,
        "/big": 1,
        "/endless": 1,
        "/loop-a": 1,
        "/loop-b": 1,
        "/brochure": 1,
        "/deep/1": 1,
        "/deep/2": 1,
        "/missing": 1,
    }  # never: /private/* (robots.txt), /deep/3 (too deep), /logo.png (not a page)
    assert site.hits["/robots.txt"] == 1
    assert elsewhere.hits == {}
    assert set(site.host_headers) == {f"acme.test:{site.port}"}
    assert resolver.calls == ["acme.test"]  # resolved once, then pinned; off-site never

    assert sorted(profile.warnings) == sorted(
        [
            f"Skipped: {base}/private/secret is disallowed by robots.txt.",
            f"Skipped: {base}/big is larger than the 65,536 byte limit per page.",
            f"Skipped: {base}/endless is larger than the 65,536 byte limit per page.",
            f"Skipped: Redirect loop: {base}/loop-a \u2192 {base}/loop-b \u2192 {base}/loop-a.",
            f"Skipped: {base}/brochure is not an HTML page (application/pdf).",
            f"Skipped: {base}/missing answered HTTP 404.",
        ]
    )


async def test_sends_a_clear_user_agent(serve: Serve) -> None:
    seen: list[str] = []

    def home(handler: Any) -> None:
        seen.append(handler.headers["User-Agent"])
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"hi")

    site = serve({"/": home})
    profile = await crawl(site.url, limits=LIMITS, allow_private_networks=True)
    assert seen == [USER_AGENT]
    assert USER_AGENT == "callplane-crawler/0.1 (+https://github.com/callplane/callplane)"
    assert [page.text for page in profile.pages] == ["hi"]


async def test_stops_at_max_pages(serve: Serve) -> None:
    routes: dict[str, Route] = {"/": html(links(*(f"/p{i}" for i in range(10))))}
    routes |= {f"/p{i}": html(f"page {i} " + links("/", "/more")) for i in range(10)}
    site = serve(routes)

    limits = CrawlLimits(max_pages=4)
    profile = await crawl(site.url, limits=limits, allow_private_networks=True)

    assert [page.url for page in profile.pages] == [
        f"{site.url}/",
        f"{site.url}/p0",
        f"{site.url}/p1",
        f"{site.url}/p2",
    ]
    assert site.page_hits() == {"/": 1, "/p0": 1, "/p1": 1, "/p2": 1}
    assert profile.warnings == ["Page limit (4) reached; 7 links not followed."]


async def test_max_depth_zero_fetches_only_the_start_page(serve: Serve) -> None:
    site = serve({"/": html(links("/a")), "/a": html("a")})
    profile = await crawl(site.url, limits=CrawlLimits(max_depth=0), allow_private_networks=True)
    assert [page.url for page in profile.pages] == [f"{site.url}/"]
    assert site.page_hits() == {"/": 1}


async def test_total_time_limit_returns_what_was_gathered(serve: Serve) -> None:
    site = serve(
        {
            "/": html(links("/fast", "/slow")),
            "/fast": html("fast"),
            "/slow": Reply(body="<p>slow</p>", delay=3),
        }
    )
    limits = CrawlLimits(total_timeout_seconds=0.6, request_timeout_seconds=5)

    started = time.monotonic()
    profile = await crawl(site.url, limits=limits, allow_private_networks=True)
    assert time.monotonic() - started < 1.5

    assert [page.url for page in profile.pages] == [f"{site.url}/", f"{site.url}/fast"]
    assert profile.warnings == [
        "Stopped at the crawl time limit (0.6 s); kept the 2 pages fetched by then."
    ]


async def test_a_slow_page_is_skipped_at_the_request_timeout(serve: Serve) -> None:
    site = serve({"/": html(links("/slow")), "/slow": Reply(body="late", delay=2)})
    limits = CrawlLimits(request_timeout_seconds=0.3)
    profile = await crawl(site.url, limits=limits, allow_private_networks=True)
    assert [page.url for page in profile.pages] == [f"{site.url}/"]
    assert profile.warnings == [f"Skipped: {site.url}/slow did not answer within 0.3 s."]


async def test_start_redirect_to_another_host_makes_that_host_the_site(serve: Serve) -> None:
    new_home = serve({})
    new_home.routes.update(
        {"/": html(links("/contact", "http://old.test/gone"), head="<title>New</title>")}
    )
    new_home.routes["/contact"] = html("contact")
    old = serve({"/": redirect(f"http://www.new.test:{new_home.port}/")})
    resolver = FakeResolver({"old.test": ["127.0.0.1"], "www.new.test": ["127.0.0.1"]})

    profile = await crawl(
        f"http://old.test:{old.port}",
        limits=LIMITS,
        allow_private_networks=True,
        resolver=resolver,
    )

    base = f"http://www.new.test:{new_home.port}"
    assert profile.url == f"{base}/" and profile.domain == "www.new.test"
    assert [page.url for page in profile.pages] == [f"{base}/", f"{base}/contact"]
    assert old.page_hits() == {"/": 1}  # the old host is not the site any more


async def test_www_and_bare_host_are_the_same_site(serve: Serve) -> None:
    site = serve({})
    site.routes["/"] = html(links(f"http://www.acme.test:{site.port}/team"))
    site.routes["/team"] = html("team")
    resolver = FakeResolver({"acme.test": ["127.0.0.1"], "www.acme.test": ["127.0.0.1"]})
    profile = await crawl(
        f"http://acme.test:{site.port}/",
        limits=LIMITS,
        allow_private_networks=True,
        resolver=resolver,
    )
    assert [page.url for page in profile.pages] == [
        f"http://acme.test:{site.port}/",
        f"http://www.acme.test:{site.port}/team",
    ]


async def test_off_site_redirect_of_a_page_is_not_followed(serve: Serve) -> None:
    elsewhere = serve({"/": html("elsewhere")})
    site = serve(
        {"/": html(links("/out")), "/out": redirect(f"http://127.0.0.1:{elsewhere.port}/")}
    )
    profile = await crawl(site.url, limits=LIMITS, allow_private_networks=True)
    assert elsewhere.hits == {}
    assert profile.warnings == [
        f"Skipped: {site.url}/out redirects off-site to http://127.0.0.1:{elsewhere.port}/."
    ]


async def test_too_many_redirects(serve: Serve) -> None:
    routes: dict[str, Route] = {"/": html(links("/r0"))}
    routes |= {f"/r{i}": redirect(f"/r{i + 1}") for i in range(5)}
    routes["/r5"] = html("finally")
    site = serve(routes)

    profile = await crawl(
        site.url, limits=CrawlLimits(max_redirects=4), allow_private_networks=True
    )
    assert profile.warnings == [f"Skipped: {site.url}/r0 redirects more than 4 times."]
    assert site.hits["/r5"] == 0

    site.hits.clear()
    profile = await crawl(
        site.url, limits=CrawlLimits(max_redirects=5), allow_private_networks=True
    )
    assert [page.url for page in profile.pages] == [f"{site.url}/", f"{site.url}/r5"]
    assert profile.warnings == []


async def test_fallbacks_without_jsonld(serve: Serve) -> None:
    site = serve(
        {
            "/": html(
                "<p>Call us!</p>"
                + links(
                    "/contact", "tel:+44%2020%207946%200000", "mailto:team@shop.test?subject=Hi"
                ),
                head="<title>Home | Corner Shop</title>"
                '<meta name="description" content="Fresh food">',
            ),
            "/contact": html(links("mailto:other@shop.test", "tel:999")),
        }
    )
    profile = await crawl(site.url, limits=LIMITS, allow_private_networks=True)
    assert profile.name == "Corner Shop"
    assert profile.description == "Fresh food"
    assert profile.telephone == "+44 20 7946 0000"
    assert profile.email == "team@shop.test"
    assert profile.address is None and profile.opening_hours == [] and profile.services == []

    site.routes["/"] = html(
        "hi", head='<title>Welcome</title><meta property="og:site_name" content="Corner Shop Ltd">'
    )
    assert (await crawl(site.url, allow_private_networks=True)).name == "Corner Shop Ltd"


async def test_decodes_the_declared_charset(serve: Serve) -> None:
    site = serve(
        {
            "/": Reply(
                body="<html><head><title>Caf\u00e9 M\u00fcller</title></head></html>".encode(
                    "latin-1"
                ),
                content_type="text/html; charset=iso-8859-1",
            ),
            "/meta": Reply(
                body='<meta charset="windows-1252"><title>Caf\u00e9</title>'.encode("cp1252"),
                content_type="text/html",
            ),
        }
    )
    profile = await crawl(site.url, allow_private_networks=True)
    assert profile.pages[0].title == "Caf\u00e9 M\u00fcller"
    profile = await crawl(f"{site.url}/meta", allow_private_networks=True)
    assert profile.pages[0].title == "Caf\u00e9"
