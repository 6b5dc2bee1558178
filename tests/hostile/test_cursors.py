"""Malformed cursors on every list: garbage, truncated, well-formed base64 of junk JSON, values
the database cannot compare, and another organization's cursor."""

from __future__ import annotations

import base64

import pytest

from tests.factories import Tenant
from tests.hostile.world import World, refused, timed


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ZERO_UUID = '{"u": "' + "0" * 32 + '"}'
JUNK = {
    "garbage": "not a cursor!",
    "bad-base64-padding": "a",
    "empty-json": b64(b""),
    "not-json": b64(b"\xff\xfe\x00junk"),
    "object": b64(b'{"t": "2020-01-01T00:00:00Z"}'),
    "string": b64(b'"x"'),
    "null": b64(b"null"),
    "empty-list": b64(b"[]"),
    "too-long-list": b64(b"[1, 2, 3]"),
    "wrong-types": b64(b"[true, false]"),
    "bad-time": b64(b'[{"t": "yesterday"}, ' + ZERO_UUID.encode() + b"]"),
    "bad-uuid": b64(b'[{"t": "2020-01-01T00:00:00Z"}, {"u": "zz"}]'),
    "time-overflow": b64(b'[{"t": "9999-12-31T23:59:59-23:59"}, ' + ZERO_UUID.encode() + b"]"),
    "year-0": b64(b'[{"t": "0000-01-01T00:00:00Z"}, ' + ZERO_UUID.encode() + b"]"),
    "int-beyond-32-bits": b64(b"[2147483648]"),
    "int-below-32-bits": b64(b"[-2147483649]"),
    "int-beyond-63-bits": b64(b"[9223372036854775808]"),  # orjson parses it; drivers do not
    "int-below-63-bits": b64(b"[-9223372036854775809]"),
    "int-beyond-64-bits": b64(b"[18446744073709551616]"),
    "float": b64(b"[1e400]"),
    "deep": b64(b"[" * 150 + b"]" * 150),
}


def list_urls(world: World) -> list[str]:
    return [
        "/core/agents",
        f"/core/agents/{world.agent['id']}/versions",
        "/core/phone-numbers",
        "/core/web-widgets",
        "/core/conversations",
        "/core/workflows",
        "/core/knowledge-collections",
    ]


@pytest.mark.parametrize("cursor", JUNK.values(), ids=JUNK.keys())
async def test_junk_cursors_are_400_on_every_list(world: World, cursor: str) -> None:
    for url in list_urls(world):
        response = await refused(world.tenant.get(url, params={"cursor": cursor}), 400)
        assert response.json()["code"] == "invalid_cursor", url


async def test_truncated_and_oversized_cursors(world: World) -> None:
    for _ in range(2):
        await world.tenant.create_agent()
        await world.tenant.create_version(world.agent["id"])
    for url in ("/core/agents", f"/core/agents/{world.agent['id']}/versions"):
        page = await timed(world.tenant.get(url, params={"limit": 1}))
        cursor = page.json()["pagination"]["next_cursor"]
        assert cursor
        for cut in (cursor[: len(cursor) // 2], cursor[:-1], cursor[1:], cursor + "x"):
            await refused(world.tenant.get(url, params={"cursor": cut}), 400)
        await refused(world.tenant.get(url, params={"cursor": cursor + "A" * 600}), 422)


async def test_another_organizations_cursor_reveals_nothing(
    world: World, other_tenant: Tenant
) -> None:
    """A cursor is only a sort position: used in another organization it pages that one's own
    rows (here all of them: the other's agents are newer), never the issuer's."""
    for _ in range(3):
        await other_tenant.create_agent()
    page = await timed(other_tenant.get("/core/agents", params={"limit": 1}))
    cursor = page.json()["pagination"]["next_cursor"]
    own = (await world.tenant.get("/core/agents")).json()["data"]
    response = await timed(world.tenant.get("/core/agents", params={"cursor": cursor}))
    assert response.status_code == 200
    assert response.json()["data"] == own
