"""Reading pages and schema.org JSON-LD, without any network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callplane.crawler.extract import (
    extract_page,
    facts_from_jsonld,
    name_from_title,
    opening_hours,
)
from callplane.crawler.urls import normalize_url, parse_ipv4_number_host

D = "\u2013"  # en dash


def page_with(*items: Any, body: str = "") -> str:
    scripts = "".join(
        f'<script type="application/ld+json">{json.dumps(item)}</script>' for item in items
    )
    return f"<html><head>{scripts}</head><body>{body}</body></html>"


def test_page_basics() -> None:
    html = """<html><head><title>  About
      us </title><meta property="og:description" content="Fallback">
      <meta name="DESCRIPTION" content=" Who   we are "><base href="/sub/">
      <meta property="og:site_name" content="Acme"></head>
      <body><nav>Menu</nav><a href="team">Team</a> <a href="#top">top</a>
      <a href="TEL:+1%20555%200100">call</a>
      <a href="mailto:a@acme.test,b@acme.test?subject=x">m</a>
      <a href="mailto:">empty</a> <a href="https://other.test/x">x</a>
      <script>var hidden = 1;</script><p>Short body.</p></body></html>"""
    page = extract_page("https://acme.test/about", html, max_text_chars=1000)
    assert page.title == "About us"
    assert page.description == "Who we are"
    assert page.site_name == "Acme"
    assert page.links == ["https://acme.test/sub/team", "https://other.test/x"]
    assert page.telephones == ["+1 555 0100"]
    assert page.emails == ["a@acme.test"]
    assert "Short body." in page.text and "hidden" not in page.text
    assert page.jsonld == [] and page.warnings == []


def test_page_text_is_bounded() -> None:
    paragraphs = "".join(f"<p>Paragraph number {i} about our dental care.</p>" for i in range(2000))
    page = extract_page(
        "https://acme.test/", f"<html><body>{paragraphs}</body></html>", max_text_chars=500
    )
    assert 300 < len(page.text) <= 500
    assert page.text.startswith("Paragraph number 0")


def test_malformed_jsonld_costs_only_the_jsonld() -> None:
    html = (
        '<html><head><script type="application/ld+json">{"@type": </script></head>'
        "<body><p>Still here</p></body></html>"
    )
    page = extract_page("https://acme.test/", html, max_text_chars=1000)
    assert page.jsonld == []
    assert page.warnings == ["Ignored malformed JSON-LD on https://acme.test/: JSONDecodeError."]
    assert "Still here" in page.text


def test_local_business_beats_organization_and_fields_fill_in() -> None:
    documents = [
        {"@type": "Organization", "name": "Acme Holdings", "email": "mailto:corp@acme.test"},
        {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "WebPage", "name": "Home", "telephone": "1"},
                {
                    "@type": "schema:Restaurant",
                    "name": {"@value": "Acme Diner"},
                    "contactPoint": {"@type": "ContactPoint", "telephone": "tel:+1-555-0101"},
                    "address": "5 High Street, Springfield",
                    "openingHours": ["Mo-Fr 11:00-22:00", "Sa,Su 10:00-23:00"],
                },
            ],
        },
    ]
    facts = facts_from_jsonld(documents)
    assert facts.name == "Acme Diner"
    assert facts.telephone == "+1-555-0101"
    assert facts.email == "corp@acme.test"  # from the organization, which has one
    assert facts.address == "5 High Street, Springfield"
    assert facts.opening_hours == [
        f"Monday{D}Friday 11:00{D}22:00",
        f"Saturday{D}Sunday 10:00{D}23:00",
    ]


def test_unknown_subtype_with_hours_counts_as_a_business() -> None:
    facts = facts_from_jsonld(
        [
            {
                "@type": "http://schema.org/PetGroomingBusiness",
                "name": "Fluffy",
                "openingHours": "Mo 09:00-12:00",
            }
        ]
    )
    assert facts.name == "Fluffy" and facts.opening_hours == [f"Monday 09:00{D}12:00"]
    assert (
        facts_from_jsonld([{"@type": "Person", "name": "Dr. Who", "telephone": "1"}]).name is None
    )


@pytest.mark.parametrize(
    ("business", "lines"),
    [
        (
            {
                "openingHoursSpecification": [
                    {
                        "dayOfWeek": ["Monday", "Tuesday", "Thursday"],
                        "opens": "08:00",
                        "closes": "12:00",
                    },
                    {
                        "dayOfWeek": ["Monday", "Tuesday", "Thursday"],
                        "opens": "13:00",
                        "closes": "17:30",
                    },
                    {"dayOfWeek": "Wednesday", "opens": "08:00", "closes": "12:00"},
                    {
                        "dayOfWeek": "http://schema.org/PublicHolidays",
                        "opens": "00:00",
                        "closes": "00:00",
                    },
                    {"dayOfWeek": "Sunday", "opens": "00:00", "closes": "23:59"},
                    {"dayOfWeek": "Funday", "opens": "1:00", "closes": "2:00"},
                    {"dayOfWeek": "Friday", "opens": "late"},
                ]
            },
            [
                f"Monday{D}Tuesday 08:00{D}12:00, 13:00{D}17:30",
                f"Wednesday 08:00{D}12:00",
                f"Thursday 08:00{D}12:00, 13:00{D}17:30",
                "Sunday open 24 hours",
                "Public holidays closed",
            ],
        ),
        ({"openingHours": "Mo-Su"}, [f"Monday{D}Sunday open 24 hours"]),
        (
            {"openingHours": "Sa-Mo 9:00-13:00"},
            ["Monday 09:00\u201313:00", f"Saturday{D}Sunday 09:00{D}13:00"],
        ),
        (
            {"openingHours": "Mo,We,Fr 09:00-12:00,14:00-18:00; Tu 10:00-11:00"},
            [
                f"Monday 09:00{D}12:00, 14:00{D}18:00",
                f"Tuesday 10:00{D}11:00",
                f"Wednesday 09:00{D}12:00, 14:00{D}18:00",
                f"Friday 09:00{D}12:00, 14:00{D}18:00",
            ],
        ),
        (
            {"openingHours": ["By appointment only", "Xx-Yy 9-5"]},
            ["By appointment only", "Xx-Yy 9-5"],
        ),
        ({}, []),
    ],
)
def test_opening_hours(business: dict[str, Any], lines: list[str]) -> None:
    assert opening_hours(business) == lines


def test_services_and_faqs_from_the_whole_site() -> None:
    documents = [
        {
            "@type": "LocalBusiness",
            "name": "Fixit",
            "makesOffer": ["Boiler repair", {"@type": "Offer", "name": "Gas safety check"}],
            "hasOfferCatalog": {
                "@type": "OfferCatalog",
                "itemListElement": [
                    {"@type": "ListItem", "item": {"@type": "Service", "name": "Leak detection"}},
                    {"@type": "OfferCatalog", "name": "Emergency call-outs"},
                ],
            },
        },
        {"@type": "Service", "name": "Bathroom fitting", "provider": {"@type": "LocalBusiness"}},
        {
            "@type": "FAQPage",
            "mainEntity": {
                "@type": "Question",
                "name": "Do you work weekends?",
                "acceptedAnswer": [
                    {"@type": "Answer", "text": "Yes.<br>Saturdays<ul><li>9-12</li></ul>"}
                ],
            },
        },
        {
            "@type": "FAQPage",
            "mainEntity": [
                {
                    "@type": "Question",
                    "name": "do you work WEEKENDS?",
                    "acceptedAnswer": {"text": "dup"},
                },
                {"@type": "Question", "name": "No answer?"},
                "not a question",
            ],
        },
    ]
    facts = facts_from_jsonld(documents)
    assert facts.services == [
        "Boiler repair",
        "Gas safety check",
        "Leak detection",
        "Emergency call-outs",
        "Bathroom fitting",
    ]
    assert facts.faqs == [("Do you work weekends?", "Yes. Saturdays 9-12")]


def test_address_formats() -> None:
    facts = facts_from_jsonld(
        [
            {
                "@type": "Dentist",
                "address": [
                    {
                        "@type": "PostalAddress",
                        "streetAddress": "10 Rue de la Paix",
                        "postalCode": "75002",
                        "addressLocality": "Paris",
                        "addressCountry": "FR",
                    }
                ],
            }
        ]
    )
    assert facts.address == "10 Rue de la Paix, Paris, 75002, FR"


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Home | Acme Dental", "Acme Dental"),
        ("Acme Dental \u2013 Family dentistry", "Acme Dental"),
        ("Welcome to Acme Dental", "Acme Dental"),
        ("Home", None),
        (None, None),
        ("Acme-Dental", "Acme-Dental"),
    ],
)
def test_name_from_title(title: str | None, name: str | None) -> None:
    assert name_from_title(title) == name


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("/a#frag", "https://acme.test/a"),
        ("HTTPS://ACME.TEST:443/a?b=1#c", "https://acme.test/a?b=1"),
        ("http://acme.test:80", "http://acme.test/"),
        ("//acme.test./x/../y", "https://acme.test/y"),
        ("http://acme.test:8080/", "http://acme.test:8080/"),
        ("http://[::1]:80/", "http://[::1]/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("mailto:x@acme.test", None),
        ("data:text/html,hi", None),
        ("http://u:p@acme.test/", None),
        ("http://bad_host!/", None),
    ],
)
def test_normalize_url(href: str, expected: str | None) -> None:
    assert normalize_url(href, "https://acme.test/index.html") == expected


def test_ipv4_number_hosts() -> None:
    assert str(parse_ipv4_number_host("3232235777")) == "192.168.1.1"
    assert str(parse_ipv4_number_host("192.168.257")) == "192.168.1.1"
    assert str(parse_ipv4_number_host("0xc0.0xa8.0x1.0x1")) == "192.168.1.1"
    assert parse_ipv4_number_host("acme.test") is None
    assert parse_ipv4_number_host("1.example") is None
    for bad in ("4294967296", "1.2.3.256", "1.2.3.4.5", "09.1.1.1"):
        with pytest.raises(ValueError):
            parse_ipv4_number_host(bad)
