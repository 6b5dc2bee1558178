"""Deeply nested JSON: 100k levels (the parser gives up), a few hundred (the parser copes but
encoders do not) and at the limit, in write bodies and in the metadata filter."""

from __future__ import annotations

import orjson
import pytest

from callplane.kit.schemas import MAX_JSON_DEPTH, unstorable
from tests.hostile.world import JSON, World, refused

HUNDRED_K_LISTS = b"[" * 100_000 + b"]" * 100_000
HUNDRED_K_OBJECTS = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def nested(depth: int) -> str:
    """JSON text of `depth` lists inside one another, alternating with objects."""
    opening = "".join("[" if level % 2 else '{"k":' for level in range(depth))
    closing = "".join("]" if level % 2 else "}" for level in reversed(range(depth)))
    return opening + "1" + closing


@pytest.mark.parametrize("body", [HUNDRED_K_LISTS, HUNDRED_K_OBJECTS], ids=["lists", "objects"])
async def test_100k_levels_as_any_write_body(world: World, body: bytes) -> None:
    before = await world.snapshot()
    for method, url in world.write_targets():
        await refused(world.tenant.request(method, url, content=body, headers=JSON), 400, 422)
    assert await world.snapshot() == before


@pytest.mark.parametrize("depth", [200, 300, 900])
async def test_hundreds_of_levels_in_free_form_fields(world: World, depth: int) -> None:
    """Deeper than orjson encodes (255) used to be a 500 from the size checks that encode."""
    deep = nested(depth)
    agent = f"/core/agents/{world.agent['id']}"
    widget = world.widget
    bodies = [
        ("POST", "/core/agents", f'{{"name": "deep", "metadata": {{"a": {deep}}}}}'),
        ("PUT", agent, f'{{"metadata": {{"a": {deep}}}}}'),
        (
            "POST",
            "/core/web-widgets",
            f'{{"agent_id": "{widget["agent_id"]}", '
            f'"agent_version_id": "{widget["agent_version_id"]}", "config": {{"a": {deep}}}}}',
        ),
        ("PATCH", f"/core/web-widgets/{widget['id']}", f'{{"config": {{"a": {deep}}}}}'),
        (
            "POST",
            "/core/conversations/import",
            '{"conversations": [{"channel": "sms", "status": "completed", '
            f'"metadata": {{"a": {deep}}}}}]}}',
        ),
        (
            "POST",
            f"{agent}/versions",
            '{"config": {"instructions": "Hi.", "tools": [{"name": "t", "description": "d", '
            '"actions": [{"type": "http_request", "method": "POST", '
            f'"url": "https://example.com", "body": {{"a": {deep}}}}}]}}]}}}}',
        ),
    ]
    before = await world.snapshot()
    for method, url, body in bodies:
        response = await refused(world.tenant.request(method, url, content=body, headers=JSON))
        if depth < 900:  # deeper, Python's own parser gives up first (400)
            assert response.status_code == 422, (url, response.text[:300])
            assert f"deeper than {MAX_JSON_DEPTH} levels" in response.text, url
    assert await world.snapshot() == before


@pytest.mark.parametrize(
    "metadata",
    [
        "[" * 10_000 + "]" * 10_000,  # beyond the parameter's 16 KiB (100k: test_real_server)
        '{"a": ' + nested(300) + "}",
        '{"a": ' + nested(900) + "}",
        '{"a": ' + nested(2000) + "}",  # beyond orjson's parser
    ],
    ids=["10k", "300", "900", "2000"],
)
async def test_deep_metadata_filter(world: World, metadata: str) -> None:
    await refused(world.tenant.get("/core/agents", params={"metadata": metadata}), 422)


def test_the_depth_limit_is_where_it_says() -> None:
    at_limit = orjson.loads(nested(MAX_JSON_DEPTH))
    assert unstorable(at_limit) is None
    assert unstorable(orjson.loads(nested(MAX_JSON_DEPTH + 1))) is not None


async def test_json_at_the_depth_limit_is_stored(world: World) -> None:
    """The limit refuses only the absurd: metadata nested to it is kept exactly."""
    metadata = {"a": orjson.loads(nested(MAX_JSON_DEPTH - 2))}
    created = await world.tenant.post("/core/agents", json={"name": "deep", "metadata": metadata})
    assert created.status_code == 201, created.text
    assert created.json()["metadata"] == metadata
