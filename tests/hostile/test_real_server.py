"""Hostile requests against a real `callplane serve` (uvicorn): the in-process transport skips
its parser, so header sizes, raw bytes and framing are only tested here. uvicorn answering 400
or 431 itself is as good as the app doing so; a 5xx, a dropped connection or a hang is not."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.world import LIMIT_SECONDS, World

WAIT_SECONDS = 10  # how long to wait before calling it a hang


async def raw_request(server: str, request: bytes) -> int:
    """Send `request` as is; the status of the answer, asserted to come within LIMIT_SECONDS."""
    address = urlsplit(server)
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):  # answered and closed before reading it all
            await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), WAIT_SECONDS)
    finally:
        writer.close()
    elapsed = time.perf_counter() - start
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    assert elapsed < LIMIT_SECONDS, f"took {elapsed:.2f}s"
    return int(status_line.split()[1])


def http(method: str, target: bytes, headers: list[bytes], body: bytes = b"") -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture
async def auth(world: World) -> bytes:
    return b"Authorization: " + world.tenant.headers["Authorization"].encode()


def _cases(auth: bytes, world: World) -> dict[str, tuple[bytes, set[int]]]:
    body = b'{"name": "should not exist"}'
    typed = [auth, b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    many = [b"X-H%d: v" % i for i in range(1000)]
    widget = f"/core/public/web-widgets/{world.widget['id']}".encode()
    limits = {400, 431}
    return {
        "100 KB header": (
            http("GET", b"/core/agents", [auth, b"X-Big: " + b"a" * 100_000]),
            limits,
        ),
        "1 MB header": (
            http("GET", b"/core/agents", [auth, b"X-Big: " + b"a" * 1_000_000]),
            limits,
        ),
        "100 KB credential": (
            http("GET", b"/core/agents", [b"Authorization: Bearer " + b"a" * 100_000]),
            limits,
        ),
        "1000 headers": (http("GET", b"/core/agents", [auth, *many]), limits),
        "100 KB header on a write": (
            http("POST", b"/core/agents", [*typed, b"X-Big: " + b"a" * 100_000], body),
            limits,
        ),
        "1000 headers on a write": (http("POST", b"/core/agents", [*typed, *many], body), limits),
        "NUL in a header": (http("GET", b"/core/agents", [auth, b"X-A: a\x00b"]), {400}),
        "control byte in a header": (http("GET", b"/core/agents", [auth, b"X-A: a\x01b"]), {400}),
        "0xFF in the credential": (
            http("GET", b"/core/agents", [b"Authorization: Bearer \xff\xfe"]),
            {401},
        ),
        "raw 0xFF in the path": (http("GET", b"/core/agents/\xff", [auth]), {400}),
        "raw 0xFF in the query": (http("GET", b"/core/agents?name=\xff", [auth]), {400}),
        "%FF in the path": (http("GET", b"/core/agents/%FF", [auth]), {400}),
        "%00 in the query": (http("GET", b"/core/agents?name=%00", [auth]), {400}),
        "100k-level metadata filter": (
            http("GET", b"/core/agents?metadata=" + b"%5B" * 100_000 + b"%5D" * 100_000, [auth]),
            {400, 414, 422, 431},
        ),
        "Content-Length not a number": (
            http("POST", b"/core/agents", [auth, b"Content-Length: abc"], body),
            {400},
        ),
        "Content-Length beyond the limit": (
            http("POST", b"/core/agents", [auth, b"Content-Length: 99999999999999"]),
            {413},
        ),
        "Content-Length and chunked": (
            http(
                "POST",
                b"/core/agents",
                [*typed, b"Transfer-Encoding: chunked"],
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
            ),
            {400},
        ),
        "DEL in an Origin that would be echoed": (
            http("GET", widget, [b"Origin: http://a\x7fb.example"]),
            {400},
        ),
    }


async def test_hostile_requests_to_a_real_server(
    server_url: str, world: World, auth: bytes
) -> None:
    before = await world.snapshot()
    answers = {
        name: await raw_request(server_url, request)
        for name, (request, _) in _cases(auth, world).items()
    }
    expected = {name: statuses for name, (_, statuses) in _cases(auth, world).items()}
    wrong = {name: status for name, status in answers.items() if status not in expected[name]}
    assert wrong == {}, expected
    async with httpx.AsyncClient(base_url=server_url) as client:
        assert (await client.get("/health")).status_code == 200
    assert await world.snapshot() == before


async def test_a_junk_origin_is_not_echoed_by_a_real_server(server_url: str, world: World) -> None:
    """The widget allows any origin, so it echoes the Origin back: bytes that are no origin but
    that the parser lets through (obs-text) must not be echoed."""
    widget = f"/core/public/web-widgets/{world.widget['id']}".encode()
    for origin in (b"http://\xff.example", b"http://caf\xe9.example"):
        request = http("GET", widget, [b"Origin: " + origin])
        address = urlsplit(server_url)
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_SECONDS)
        writer.close()
        assert not head.startswith(b"HTTP/1.1 5"), head
        assert b"access-control-allow-origin" not in head.lower(), head
