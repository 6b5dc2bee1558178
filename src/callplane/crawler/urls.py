"""URL handling for the crawler: one canonical form per page (so dedupe works and every host is
checked in the form we connect to) and the "same site" rule."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin

import httpx

from callplane.crawler.errors import InvalidStartUrl

SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]*$")

# Links to these are not pages; skipping them saves a request each (their Content-Type would
# be refused anyway).
_NON_HTML_SUFFIXES = (
    ".7z", ".avi", ".bmp", ".css", ".csv", ".dmg", ".doc", ".docx", ".eot", ".exe", ".gif",
    ".gz", ".ico", ".jpeg", ".jpg", ".js", ".json", ".m4a", ".mov", ".mp3", ".mp4", ".mpeg",
    ".odt", ".ogg", ".otf", ".pdf", ".png", ".ppt", ".pptx", ".rar", ".rss", ".svg", ".tar",
    ".tgz", ".tif", ".tiff", ".ttf", ".wav", ".webm", ".webp", ".woff", ".woff2", ".xls",
    ".xlsx", ".xml", ".zip",
)  # fmt: skip


def parse_ipv4_number_host(host: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL IPv4 parser: hosts such as `2130706433`, `0x7f.1` or `0177.0.0.1` are IP
    addresses to browsers and to getaddrinfo, so they must be checked as such.

    Returns None when the host does not end in a number (an ordinary name); raises ValueError
    when it does but is not a valid address."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if not (last.isdigit() and last.isascii()) and not _HEX.match(last):
        return None
    if len(parts) > 4:
        raise ValueError("not a valid IPv4 address")
    numbers = [_ipv4_part(part) for part in parts]
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError("not a valid IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


def _ipv4_part(part: str) -> int:
    if _HEX.match(part):
        return int(part[2:] or "0", 16)
    if not (part.isdigit() and part.isascii()):
        raise ValueError("not a valid IPv4 address")
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)  # raises ValueError on 8 or 9, as browsers refuse them
    return int(part)


def canonical_host(raw_host: str) -> str:
    """Lowercase name without trailing dot, or an IP literal in its canonical form."""
    host = raw_host.lower()
    if ":" in host:  # httpx hands IPv6 literals over without brackets
        if "%" in host:
            raise ValueError("IPv6 zone identifiers are not allowed")
        return str(ipaddress.IPv6Address(host))
    if not host or host == ".":
        raise ValueError("the URL has no host")
    ipv4 = parse_ipv4_number_host(host)
    if ipv4 is not None:
        return str(ipv4)
    host = host.removesuffix(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"{raw_host!r} is not a valid host name")
    return host


def _canonical(url: httpx.URL) -> str:
    scheme = url.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError("only http and https URLs can be crawled")
    if url.userinfo:
        raise ValueError("URLs with credentials are not crawled")
    host = canonical_host(url.raw_host.decode("ascii"))
    netloc = f"[{host}]" if ":" in host else host
    if url.port is not None and url.port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{url.port}"
    path = url.raw_path.decode("ascii") or "/"
    return f"{scheme}://{netloc}{path}"


def normalize_url(href: str, base: str | None = None) -> str | None:
    """The canonical absolute form of a link (no fragment, default port dropped), or None when it
    is not something the crawler follows (other schemes, credentials, malformed)."""
    try:
        absolute = urljoin(base, href.strip()) if base else href.strip()
        return _canonical(httpx.URL(absolute))
    except (ValueError, httpx.InvalidURL, UnicodeError):
        return None


def parse_start_url(text: str) -> str:
    """The canonical start URL; a bare `acme.com` means `https://acme.com/`."""
    candidate = text.strip()
    if not candidate:
        raise InvalidStartUrl("The website URL is empty.")
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    try:
        return _canonical(httpx.URL(candidate))
    except (httpx.InvalidURL, UnicodeError) as error:
        raise InvalidStartUrl(f"{text!r} is not a valid URL: {error}", url=text) from None
    except ValueError as error:
        raise InvalidStartUrl(f"{text!r} cannot be crawled: {error}", url=text) from None


def host_and_port(url: str) -> tuple[str, int]:
    """The host to resolve and the port to connect to, for a canonical URL."""
    parsed = httpx.URL(url)
    return parsed.host, parsed.port or DEFAULT_PORTS[parsed.scheme]


def hostname(url: str) -> str:
    return httpx.URL(url).host


def origin(url: str) -> str:
    """scheme://host[:port], whose /robots.txt governs the URL."""
    parsed = httpx.URL(url)
    netloc = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{netloc}{port}"


def site_key(url: str) -> tuple[str, int | None]:
    """Two URLs are on the same site when their hosts match, ignoring a leading `www.`, and they
    use the same explicit port (http and https on their default ports count as the same site)."""
    parsed = httpx.URL(url)
    return parsed.host.removeprefix("www."), parsed.port


def looks_like_non_html(url: str) -> bool:
    return httpx.URL(url).path.lower().endswith(_NON_HTML_SUFFIXES)
