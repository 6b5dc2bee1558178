"""Huge arrays (inside the 1 MiB body limit and beyond it), huge strings, huge integers and
metadata filters with thousands of keys."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from callplane.agents.endpoints import MAX_METADATA_FILTER_KEYS
from tests.factories import Tenant
from tests.hostile.world import JSON, World, refused, timed

MAX_BODY = 1024 * 1024
BIG_STRING = "x" * 900_000  # inside the body limit, beyond every field's


def huge_array(size: int) -> bytes:
    """A JSON array of small integers, exactly `size` bytes long."""
    count = (size - 1) // 2
    body = b"[" + b"1," * (count - 1) + b"1]"
    return body + b" " * (size - len(body))


async def test_bodies_beyond_the_limit_are_413(world: World) -> None:
    body = huge_array(MAX_BODY + 1)
    before = await world.snapshot()
    for method, url in world.write_targets():
        await refused(world.tenant.request(method, url, content=body, headers=JSON), 413)
    assert await world.snapshot() == before


async def test_a_huge_array_inside_a_body_beyond_the_limit_is_413(world: World) -> None:
    array = huge_array(MAX_BODY)
    before = await world.snapshot()
    for url, content in (
        ("/core/agents", b'{"name": "big", "metadata": {"a": ' + array + b"}}"),
        ("/core/conversations/import", b'{"conversations": ' + array + b"}"),
    ):
        await refused(world.tenant.post(url, content=content, headers=JSON), 413)
    assert await world.snapshot() == before


def _arrays_within_the_limit(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    agent = world.agent["id"]
    many = [1] * 300_000
    conversation = {"channel": "sms", "status": "completed"}
    return [
        ("POST", "/core/agents", {"name": "big", "metadata": {"a": many}}),
        ("PUT", f"/core/agents/{agent}", {"metadata": {"a": many}}),
        ("PATCH", f"/core/web-widgets/{world.widget['id']}", {"domains": ["a.example"] * 80_000}),
        ("PATCH", f"/core/web-widgets/{world.widget['id']}", {"config": {"a": many}}),
        ("POST", f"/core/agents/{agent}/versions/2/publish", {"phone_numbers": ["+1"] * 150_000}),
        ("POST", "/core/conversations/import", {"conversations": [conversation] * 501}),
        (
            "POST",
            "/core/conversations/import",
            {
                "conversations": [
                    {**conversation, "transcript": [{"role": "user", "content": "x"}] * 30_000}
                ]
            },
        ),
        (
            "POST",
            f"/core/agents/{agent}/versions",
            {"config": {"instructions": "Hi.", "end_call": {"end_phrases": ["bye"] * 150_000}}},
        ),
        ("POST", "/admin/organization-pats", {"name": "k", "scopes": ["no:such"] * 80_000}),
    ]


async def test_huge_arrays_within_the_limit_are_422(world: World) -> None:
    before = await world.snapshot()
    for method, url, body in _arrays_within_the_limit(world):
        content = orjson.dumps(body)
        assert len(content) <= MAX_BODY, url
        await refused(world.tenant.request(method, url, content=content, headers=JSON), 422)
    assert await world.snapshot() == before


async def test_huge_strings_are_422(world: World) -> None:
    agent = f"/core/agents/{world.agent['id']}"
    cases = [
        ("POST", "/core/agents", {"name": BIG_STRING}),
        ("PUT", agent, {"name": BIG_STRING}),
        ("PUT", agent, {"description": BIG_STRING}),
        ("POST", "/core/agents", {"name": "ok", "metadata": {BIG_STRING: 1}}),
        ("POST", "/core/phone-numbers", {"phone_number": BIG_STRING}),
        ("PATCH", f"/core/phone-numbers/{world.number}", {"label": BIG_STRING}),
        ("PUT", f"{agent}/versions/2", {"config": {"instructions": BIG_STRING}}),
        ("PATCH", f"/core/web-widgets/{world.widget['id']}", {"domains": [BIG_STRING]}),
        (
            "POST",
            "/core/conversations/import",
            {"conversations": [{"channel": "sms", "status": "completed", "summary": BIG_STRING}]},
        ),
        ("POST", "/admin/organization-pats", {"name": BIG_STRING}),
    ]
    before = await world.snapshot()
    for method, url, body in cases:
        await refused(world.tenant.request(method, url, json=body), 422)
    assert await world.snapshot() == before


async def test_huge_strings_in_urls_are_4xx(world: World) -> None:
    long = "9" * 20_000
    before = await world.snapshot()
    for url, params in [
        (f"/core/phone-numbers/+{long}", None),
        (f"/core/agents/{long}", None),
        (f"/core/web-widgets/{long}", None),
        ("/core/agents", {"name": long}),
        ("/core/phone-numbers", {"phone_number": long}),
        ("/core/agents", {"cursor": long}),
    ]:
        await refused(world.tenant.get(url, params=params))
    await refused(world.tenant.patch(f"/core/phone-numbers/+{long}", json={"label": "x"}))
    await refused(world.tenant.delete(f"/core/phone-numbers/+{long}"))
    assert await world.snapshot() == before


async def test_huge_integers_are_4xx(world: World) -> None:
    agent = f"/core/agents/{world.agent['id']}"
    huge = 10**30
    conversation = {"channel": "sms", "status": "completed"}
    bodies = [
        ("POST", f"{agent}/versions", {"base_version": huge}),
        ("POST", f"{agent}/versions", {"base_version": 2**31}),
        ("POST", f"{agent}/versions/compare", {"from_version": huge, "to_version": 1}),
        (
            "POST",
            "/core/conversations/import",
            {"conversations": [{**conversation, "turns": huge}]},
        ),
        (
            "POST",
            "/core/conversations/import",
            {"conversations": [{**conversation, "duration_seconds": 1e308}]},
        ),
        ("POST", "/core/conversations/import", {"conversations": [{**conversation, "turns": -1}]}),
        ("POST", "/admin/organization-pats", {"name": "k", "expires_at": huge}),
        ("PATCH", f"/core/web-widgets/{world.widget['id']}", {"config": {"a": 2**64}}),
    ]
    raw_bodies = [
        b'{"name": ' + b"1" * 5000 + b"}",  # beyond Python's int-from-text limit
        b'{"name": "x", "metadata": {"a": 1e999}}',
        b'{"name": "x", "metadata": {"a": -' + b"9" * 4000 + b"}}",
    ]
    before = await world.snapshot()
    for method, url, body in bodies:
        await refused(world.tenant.request(method, url, json=body), 422)
    for raw in raw_bodies:
        await refused(world.tenant.post("/core/agents", content=raw, headers=JSON), 400, 422)
    for url, params in [
        (f"{agent}/versions/{huge}", None),
        (f"{agent}/versions/{2**31}", None),
        (f"{agent}/versions", {"version": str(huge)}),
        (f"{agent}/versions/diff", {"from": str(huge), "to": "1"}),
        ("/core/agents", {"limit": "1" * 5000}),
        ("/core/agents", {"limit": str(huge)}),
        ("/core/agents", {"limit": "-1"}),
    ]:
        await refused(world.tenant.get(url, params=params), 422)
    await refused(world.tenant.delete(f"{agent}/versions/{huge}"), 422)
    assert await world.snapshot() == before


@pytest.mark.parametrize("keys", [MAX_METADATA_FILTER_KEYS + 1, 1000, 1400])
@pytest.mark.parametrize("value", ["1", '"x"', "null", "true", "{}", "[1]"])
async def test_metadata_filter_with_too_many_keys_is_422(
    tenant: Tenant, keys: int, value: str
) -> None:
    """Thousands of keys were thousands of SQL conditions: SQLite refused them with a 500."""
    metadata = "{" + ",".join(f'"{i}":{value}' for i in range(keys)) + "}"
    response = await refused(tenant.get("/core/agents", params={"metadata": metadata}), 422)
    if len(metadata) <= 16 * 1024:  # else the parameter's length limit answers first
        assert f"at most {MAX_METADATA_FILTER_KEYS} keys" in response.text


async def test_metadata_filter_at_the_key_limit_matches(world: World) -> None:
    metadata = {f"k{i}": [i, {"n": i}] for i in range(MAX_METADATA_FILTER_KEYS)}
    agent = await world.tenant.create_agent(name="many keys", metadata=metadata)
    await world.tenant.create_agent(name="one short", metadata={**metadata, "k0": None})
    response = await timed(
        world.tenant.get("/core/agents", params={"metadata": orjson.dumps(metadata).decode()})
    )
    assert [a["id"] for a in response.json()["data"]] == [agent["id"]]
