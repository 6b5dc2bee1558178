"""Why a website build is refused at request time (422), before any work is queued."""

from __future__ import annotations

from callplane.errors import UnprocessableRequest


class WebsiteInvalid(UnprocessableRequest):
    code = "website_invalid"
    default_detail = "company_website is not a URL the crawler can fetch."


class WebsiteBlocked(UnprocessableRequest):
    code = "website_blocked"
    default_detail = "company_website leads to an address the crawler may not connect to."


class WebsiteUnresolvable(UnprocessableRequest):
    code = "website_unresolvable"
    default_detail = "company_website names a host that does not resolve."
