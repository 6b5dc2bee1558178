from __future__ import annotations

from tests.support.site import Route, html

BUSINESS_JSON_LD = """<script type="application/ld+json">{
  "@context": "https://schema.org", "@type": "Dentist", "name": "Acme Dental",
  "telephone": "+1 415 555 0100", "email": "hello@acme-dental.test",
  "address": {"@type": "PostalAddress", "streetAddress": "1 Main St",
              "addressLocality": "San Francisco", "postalCode": "94105"},
  "openingHoursSpecification": [{"@type": "OpeningHoursSpecification",
      "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
      "opens": "09:00", "closes": "17:00"}],
  "makesOffer": [{"@type": "Offer", "itemOffered": {"@type": "Service", "name": "Teeth cleaning"}},
                 {"@type": "Offer", "itemOffered": {"@type": "Service", "name": "Whitening"}}]
}</script>"""


def dental_site() -> dict[str, Route]:
    """A small business website: a home page with JSON-LD, services and contact pages."""
    return {
        "/robots.txt": html("").__class__(
            body="User-agent: *\nAllow: /\n", content_type="text/plain"
        ),
        "/": html(
            "<h1>Acme Dental</h1><p>Friendly family dentistry in San Francisco since 1998.</p>"
            '<a href="/services">Services</a> <a href="/contact">Contact</a>',
            head="<title>Acme Dental</title>"
            '<meta name="description" content="Family dentist in San Francisco">'
            + BUSINESS_JSON_LD,
        ),
        "/services": html(
            "<h1>Services</h1><p>We offer teeth cleaning, whitening and emergency care. "
            "Emergency appointments are available the same day.</p>",
            head="<title>Services - Acme Dental</title>",
        ),
        "/contact": html(
            "<h1>Contact</h1><p>Call us or write to us. We answer within one business day.</p>"
            '<a href="tel:+14155550100">Call</a>',
            head="<title>Contact - Acme Dental</title>",
        ),
    }
