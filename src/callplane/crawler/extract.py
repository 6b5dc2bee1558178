"""Reading a fetched page: title, description, main text, links, contact links and schema.org
JSON-LD; and turning the JSON-LD of a whole site into business facts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser

# trafilatura and extruct (~30 MB with what they import: lxml, rdflib, pyRdfa, mf2py…) are
# imported by the first page extracted, not by every process that imports this module (the API
# server reads HTML knowledge documents with `html_to_text` only; issue 15, memory); selectolax
# (~2 MB) by the first page or HTML fragment parsed (issue 16).

# --- one page ---------------------------------------------------------------------------------


@dataclass
class PageData:
    url: str
    title: str | None
    description: str | None
    text: str
    links: list[str]  # absolute, as written (not yet normalized or filtered)
    telephones: list[str]  # from tel: links
    emails: list[str]  # from mailto: links
    site_name: str | None  # og:site_name
    jsonld: list[Any]
    warnings: list[str] = field(default_factory=list)


def extract_page(url: str, html: str, *, max_text_chars: int) -> PageData:
    """Everything the crawler wants from one page. CPU-bound: run it in a thread."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    base = url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = urljoin(url, base_node.attrs.sget("href").strip())

    metas: dict[str, str] = {}
    for meta in tree.css("meta"):
        key = (meta.attrs.sget("name") or meta.attrs.sget("property")).strip().lower()
        content = _clean(meta.attrs.sget("content"))
        if key and content and key not in metas:
            metas[key] = content
    title_node = tree.css_first("title")
    title = _clean(title_node.text()) if title_node is not None else None

    links: list[str] = []
    telephones: list[str] = []
    emails: list[str] = []
    for anchor in tree.css("a[href]"):
        href = anchor.attrs.sget("href").strip()
        lowered = href.lower()
        if lowered.startswith("tel:"):
            if number := _clean(unquote(href[4:])):
                telephones.append(number)
        elif lowered.startswith("mailto:"):
            address = unquote(href[7:].split("?")[0]).split(",")[0].strip()
            if "@" in address:
                emails.append(address)
        elif href and not href.startswith("#"):
            links.append(urljoin(base, href))

    warnings: list[str] = []
    from extruct.jsonld import JsonLdExtractor  # type: ignore[import-untyped,unused-ignore]

    try:
        jsonld: list[Any] = JsonLdExtractor().extract(html, base_url=url)
    except Exception as error:  # malformed JSON-LD must not cost us the page
        jsonld = []
        warnings.append(f"Ignored malformed JSON-LD on {url}: {type(error).__name__}.")

    text = _main_text(html, url) or _body_text(tree)
    return PageData(
        url=url,
        title=title or metas.get("og:title"),
        description=metas.get("description") or metas.get("og:description"),
        text=_truncate(text, max_text_chars),
        links=links,
        telephones=telephones,
        emails=emails,
        site_name=metas.get("og:site_name"),
        jsonld=jsonld,
        warnings=warnings,
    )


def _main_text(html: str, url: str) -> str:
    import trafilatura

    try:
        text = trafilatura.extract(
            html,
            url=url,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            deduplicate=False,
        )
    except Exception:  # trafilatura is heuristic; the body text is our fallback
        return ""
    return _clean_block(text or "")


def _body_text(tree: LexborHTMLParser) -> str:
    tree.strip_tags(["script", "style", "noscript", "template", "svg", "head"])
    body = tree.body
    return _clean_block(body.text(separator="\n", strip=True)) if body is not None else ""


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _clean_block(text: str) -> str:
    lines = (_clean(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:space] if space > limit - 200 else cut


def html_to_text(fragment: str) -> str:
    """Answers in JSON-LD often carry markup: keep the words, and a space where blocks break."""
    if "<" not in fragment:
        return _clean(fragment)
    from selectolax.lexbor import LexborHTMLParser

    spaced = _BLOCK_TAG.sub(" ", fragment)
    tree = LexborHTMLParser(f"<body>{spaced}</body>")
    return _clean(tree.body.text() if tree.body is not None else fragment)


_BLOCK_TAG = re.compile(r"</?(?:p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|section)\b[^>]*>", re.I)


def name_from_title(title: str | None) -> str | None:
    """'Home | Acme Dental' → 'Acme Dental'; 'Acme Dental - Family dentistry' → 'Acme Dental'."""
    if not title:
        return None
    generic = {"home", "homepage", "home page", "welcome", "start", "index", "startseite"}
    for segment in re.split(r"\s+[|\-\u2013\u2014·•:»]\s+", title):
        segment = re.sub(r"^welcome to\s+", "", segment.strip(), flags=re.I)
        if segment and segment.lower() not in generic:
            return segment
    return None


# --- the site's schema.org facts --------------------------------------------------------------

ORGANIZATION_TYPES = frozenset(
    {
        "Organization", "Corporation", "NGO", "EducationalOrganization", "MedicalOrganization",
        "SportsOrganization", "GovernmentOrganization", "OnlineBusiness", "OnlineStore",
        "NewsMediaOrganization", "PerformingGroup", "Airline", "Consortium", "Cooperative",
        "ResearchOrganization", "WorkersUnion", "LibrarySystem", "FundingScheme", "Project",
    }
)  # fmt: skip
LOCAL_BUSINESS_TYPES = frozenset(
    {
        "LocalBusiness", "AnimalShelter", "ArchiveOrganization", "AutomotiveBusiness",
        "AutoBodyShop", "AutoDealer", "AutoRepair", "AutoWash", "GasStation", "ChildCare",
        "Dentist", "DryCleaningOrLaundry", "EmergencyService", "EmploymentAgency",
        "EntertainmentBusiness", "FinancialService", "AccountingService", "AutomatedTeller",
        "BankOrCreditUnion", "InsuranceAgency", "FoodEstablishment", "Bakery", "BarOrPub",
        "Brewery", "CafeOrCoffeeShop", "Distillery", "FastFoodRestaurant", "IceCreamShop",
        "Restaurant", "Winery", "GovernmentOffice", "HealthAndBeautyBusiness", "BeautySalon",
        "DaySpa", "HairSalon", "HealthClub", "NailSalon", "TattooParlor",
        "HomeAndConstructionBusiness", "Electrician", "GeneralContractor", "HVACBusiness",
        "HousePainter", "Locksmith", "MovingCompany", "Plumber", "RoofingContractor",
        "InternetCafe", "LegalService", "Attorney", "Notary", "Library", "LodgingBusiness",
        "BedAndBreakfast", "Campground", "Hostel", "Hotel", "Motel", "Resort",
        "MedicalBusiness", "MedicalClinic", "Optician", "Pharmacy", "Physician", "Hospital",
        "VeterinaryCare", "ProfessionalService", "RadioStation", "RealEstateAgent",
        "RecyclingCenter", "SelfStorage", "ShoppingCenter", "SportsActivityLocation",
        "ExerciseGym", "GolfCourse", "SportsClub", "StadiumOrArena", "Store", "BikeStore",
        "BookStore", "ClothingStore", "ComputerStore", "ConvenienceStore", "DepartmentStore",
        "ElectronicsStore", "Florist", "FurnitureStore", "GardenStore", "GroceryStore",
        "HardwareStore", "HobbyShop", "HomeGoodsStore", "JewelryStore", "LiquorStore",
        "MensClothingStore", "MobilePhoneStore", "MovieRentalStore", "MusicStore",
        "OfficeEquipmentStore", "OutletStore", "PawnShop", "PetStore", "ShoeStore",
        "SportingGoodsStore", "TireShop", "ToyStore", "WholesaleStore", "TelevisionStation",
        "TouristInformationCenter", "TravelAgency",
    }
)  # fmt: skip
# Types that carry telephone/address/hours but are not the business itself.
_NOT_BUSINESS = frozenset(
    {
        "Person", "PostalAddress", "ContactPoint", "WebSite", "WebPage", "Service", "Product",
        "Offer", "OfferCatalog", "Event", "Place", "OpeningHoursSpecification", "FAQPage",
        "Question", "Answer", "BreadcrumbList", "ListItem", "ImageObject", "Article",
    }
)  # fmt: skip
SERVICE_TYPES = frozenset({"Service", "FoodService", "GovernmentService", "TaxiService"})

EN_DASH = "\u2013"
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PUBLIC_HOLIDAYS = 7
_DAY_LABELS = (*DAYS, "Public holidays")
_DAY_INDEX = {
    **{day.lower(): index for index, day in enumerate(DAYS)},
    **{day[:2].lower(): index for index, day in enumerate(DAYS)},
    **{day[:3].lower(): index for index, day in enumerate(DAYS)},
    "publicholidays": _PUBLIC_HOLIDAYS,
    "ph": _PUBLIC_HOLIDAYS,
}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})")
_MAX_NESTING = 25


@dataclass
class SiteFacts:
    name: str | None = None
    description: str | None = None
    telephone: str | None = None
    email: str | None = None
    address: str | None = None
    opening_hours: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    faqs: list[tuple[str, str]] = field(default_factory=list)


def facts_from_jsonld(documents: Iterable[Any]) -> SiteFacts:
    """Business facts from JSON-LD items (home page's first). The most specific business node
    wins each field; services and FAQs are gathered from the whole site."""
    nodes = list(_nodes(list(documents), 0))
    businesses = sorted(
        (node for node in nodes if _business_rank(node) > 0),
        key=_business_rank,
        reverse=True,
    )
    facts = SiteFacts()
    for business in businesses:
        facts.name = facts.name or _text(business.get("name")) or _text(business.get("legalName"))
        facts.description = facts.description or _text(business.get("description"))
        facts.telephone = facts.telephone or _telephone(business)
        facts.email = facts.email or _email(business)
        facts.address = facts.address or _address(business.get("address"))
        facts.opening_hours = facts.opening_hours or opening_hours(business)
    services: list[str] = []
    for business in businesses:
        services += _services(business.get("makesOffer"), 0)
        services += _services(business.get("hasOfferCatalog"), 0)
    services += [name for node in nodes if _types(node) & SERVICE_TYPES if (name := _name(node))]
    facts.services = _unique(services)
    faqs: dict[str, tuple[str, str]] = {}
    for node in nodes:
        if "FAQPage" in _types(node):
            for question, answer in _questions(node.get("mainEntity")):
                faqs.setdefault(question.lower(), (question, answer))
    facts.faqs = list(faqs.values())
    return facts


def _nodes(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    """Every typed JSON-LD object, at any nesting (including @graph)."""
    if depth > _MAX_NESTING:
        return
    if isinstance(value, list):
        for item in value:
            yield from _nodes(item, depth + 1)
    elif isinstance(value, dict):
        if "@type" in value:
            yield value
        for item in value.values():
            yield from _nodes(item, depth + 1)


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return {re.split(r"[/#:]", name.strip())[-1] for name in names if isinstance(name, str)}


def _business_rank(node: dict[str, Any]) -> int:
    types = _types(node)
    if types & LOCAL_BUSINESS_TYPES:
        return 3
    if types & _NOT_BUSINESS:
        return 0
    if any(t.endswith(("Business", "Store", "Shop")) for t in types) or (
        "openingHoursSpecification" in node or "openingHours" in node
    ):
        return 2
    return 1 if types & ORGANIZATION_TYPES else 0


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        return next((text for item in value if (text := _text(item))), None)
    if isinstance(value, dict):
        return _text(value.get("@value"))
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _clean(str(value)) or None
    return None


def _name(node: Any) -> str | None:
    return _text(node.get("name")) if isinstance(node, dict) else _text(node)


def _telephone(business: dict[str, Any]) -> str | None:
    found = _text(business.get("telephone"))
    if found:
        return found.removeprefix("tel:")
    points = business.get("contactPoint")
    for point in points if isinstance(points, list) else [points]:
        if isinstance(point, dict) and (found := _text(point.get("telephone"))):
            return found.removeprefix("tel:")
    return None


def _email(business: dict[str, Any]) -> str | None:
    found = _text(business.get("email"))
    if found:
        return found.removeprefix("mailto:")
    points = business.get("contactPoint")
    for point in points if isinstance(points, list) else [points]:
        if isinstance(point, dict) and (found := _text(point.get("email"))):
            return found.removeprefix("mailto:")
    return None


def _address(value: Any) -> str | None:
    """A PostalAddress as one line: 'street, locality, region postcode, country'."""
    if isinstance(value, list):
        return next((line for item in value if (line := _address(item))), None)
    if not isinstance(value, dict):
        return _text(value)
    country = value.get("addressCountry")
    region_and_code = " ".join(
        part for part in (_text(value.get("addressRegion")), _text(value.get("postalCode"))) if part
    )
    parts = [
        _text(value.get("streetAddress")),
        _text(value.get("addressLocality")),
        region_and_code,
        _name(country) if isinstance(country, dict) else _text(country),
    ]
    return ", ".join(part for part in parts if part) or _name(value)


def _services(value: Any, depth: int) -> list[str]:
    """Names from makesOffer / hasOfferCatalog: Offers (their itemOffered), Services, nested
    OfferCatalogs (their items; the catalog's own name only when it lists nothing)."""
    if depth > _MAX_NESTING or value is None:
        return []
    if isinstance(value, list):
        return [name for item in value for name in _services(item, depth + 1)]
    if not isinstance(value, dict):
        text = _text(value)
        return [text] if text else []
    if "itemListElement" in value:
        found = _services(value["itemListElement"], depth + 1)
        return found or ([name] if (name := _name(value)) else [])
    for key in ("itemOffered", "item"):
        if key in value:
            found = _services(value[key], depth + 1)
            if found:
                return found
    name = _name(value)
    return [name] if name else []


def _questions(value: Any) -> Iterator[tuple[str, str]]:
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        question = _text(item.get("name")) or _text(item.get("text"))
        answers = item.get("acceptedAnswer") or item.get("suggestedAnswer")
        answer = next(
            (
                html_to_text(text)
                for candidate in (answers if isinstance(answers, list) else [answers])
                if isinstance(candidate, dict) and (text := _text(candidate.get("text")))
            ),
            None,
        )
        if question and answer:
            yield html_to_text(question), answer


def opening_hours(business: dict[str, Any]) -> list[str]:
    """Human lines such as 'Monday-Friday 09:00-17:00' (with en dashes), from
    openingHoursSpecification or the openingHours shorthand ('Mo-Fr 09:00-17:00')."""
    week: dict[int, list[str]] = {}
    unparsed: list[str] = []
    specs = business.get("openingHoursSpecification")
    for spec in specs if isinstance(specs, list) else [specs]:
        if not isinstance(spec, dict) or spec.get("validFrom") or spec.get("validThrough"):
            continue  # seasonal and holiday exceptions are left out
        days = spec.get("dayOfWeek")
        interval = _interval(_text(spec.get("opens")), _text(spec.get("closes")))
        for day in days if isinstance(days, list) else [days]:
            index = _day_index(_text(day))
            if index is not None and interval is not None:
                week.setdefault(index, []).append(interval)
    shorthand = business.get("openingHours")
    for entry in shorthand if isinstance(shorthand, list) else [shorthand]:
        text = _text(entry)
        for part in (text or "").split(";"):
            if part.strip() and not _parse_shorthand(part, week):
                unparsed.append(part.strip())
    return _group_week(week) + unparsed


def _day_index(day: str | None) -> int | None:
    if not day:
        return None
    return _DAY_INDEX.get(re.split(r"[/#:]", day)[-1].strip().lower())


def _interval(opens: str | None, closes: str | None) -> str | None:
    start, end = _time(opens), _time(closes)
    if start is None or end is None:
        return None
    if start == end == "00:00":
        return "closed"
    if start == "00:00" and end in ("23:59", "24:00"):
        return "open 24 hours"
    return f"{start}{EN_DASH}{end}"


def _time(value: str | None) -> str | None:
    match = _TIME.match(value or "")
    return f"{int(match.group(1)):02d}:{match.group(2)}" if match else None


def _parse_shorthand(text: str, week: dict[int, list[str]]) -> bool:
    """'Mo-Fr 09:00-17:00', 'Mo,We 09:00-12:00,14:00-18:00', 'Mo-Su' (all day)."""
    match = re.fullmatch(r"\s*([A-Za-z][A-Za-z ,\-]*?)\s*(\d.*)?", text)
    if match is None:
        return False
    days: list[int] = []
    for token in match.group(1).split(","):
        bounds = [_day_index(bound) for bound in token.split("-")]
        if not bounds or any(bound is None for bound in bounds) or len(bounds) > 2:
            return False
        first, last = bounds[0], bounds[-1]
        assert first is not None and last is not None
        if first <= last:
            days += range(first, last + 1)
        else:  # 'Sa-Mo' wraps around the week
            days += [*range(first, 7), *range(last + 1)]
    intervals: list[str] = []
    for span in (match.group(2) or "").split(","):
        if not span.strip():
            continue
        times = span.split("-")
        interval = _interval(times[0], times[1]) if len(times) == 2 else None
        if interval is None:
            return False
        intervals.append(interval)
    for day in days:
        week.setdefault(day, []).extend(intervals or ["open 24 hours"])
    return bool(days)


def _group_week(week: dict[int, list[str]]) -> list[str]:
    """Consecutive days with the same hours share a line."""
    lines: list[str] = []
    ordered = sorted(week)
    index = 0
    while index < len(ordered):
        first = ordered[index]
        hours = _unique(sorted(week[first]))
        last = first
        while (
            index + 1 < len(ordered)
            and ordered[index + 1] == last + 1
            and ordered[index + 1] != _PUBLIC_HOLIDAYS
            and _unique(sorted(week[ordered[index + 1]])) == hours
        ):
            index += 1
            last = ordered[index]
        days = _DAY_LABELS[first]
        if last != first:
            days += f"{EN_DASH}{_DAY_LABELS[last]}"
        if "closed" in hours and len(hours) > 1:
            hours.remove("closed")
        lines.append(f"{days} {', '.join(hours)}")
        index += 1
    return lines


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.lower(), item)
    return list(seen.values())
