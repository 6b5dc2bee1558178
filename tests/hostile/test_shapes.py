"""Bodies of the wrong shape: wrong content types, empty bodies, scalars and arrays where an object
is expected, and duplicate keys."""

from __future__ import annotations

import orjson
import pytest

from tests.hostile.world import JSON, World, refused


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "json",
        "",
        None,
    ],
)
async def test_wrong_content_types_are_422(world: World, content_type: str | None) -> None:
    """Bodies each endpoint accepts as JSON: refused under any other content type (the control
    at the end shows they were valid)."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    before = await world.snapshot()
    for method, url, body in world.valid_writes():
        content = orjson.dumps(body)
        await refused(world.tenant.request(method, url, content=content, headers=headers), 422)
    await refused(world.tenant.post("/core/agents", data={"name": "form"}), 422)
    await refused(world.tenant.post("/core/agents", files={"name": ("name", b"file")}), 422)
    assert await world.snapshot() == before
    for method, url, body in world.valid_writes():
        response = await world.tenant.request(method, url, json=body)
        assert response.status_code in (200, 201), (url, response.text)


@pytest.mark.parametrize(
    "content",
    [b"", b"null", b"1", b"-0.5", b'"a string"', b"true", b"[]", b'[{"name": "x"}]', b"{}"],
    ids=["empty", "null", "int", "float", "string", "bool", "array", "array-of-objects", "object"],
)
async def test_bodies_that_are_not_the_expected_object(world: World, content: bytes) -> None:
    """Publishing takes an all-optional body, so empty, null and {} are a valid publish; an empty
    object updates nothing (PUT/PATCH) and is otherwise missing required fields."""
    before = await world.snapshot()
    for method, url in world.write_targets():
        lenient = content in (b"", b"null", b"{}") and url.endswith("/publish")
        lenient |= content == b"{}" and method in ("PUT", "PATCH")
        if lenient:
            continue
        await refused(world.tenant.request(method, url, content=content, headers=JSON), 422)
    assert await world.snapshot() == before


@pytest.mark.parametrize(
    ("method", "url", "content"),
    [
        ("POST", "/core/agents", b'{"name": "first", "name": "second"}'),
        ("POST", "/core/agents", b'{"name": "x", "metadata": {"k": 1, "k": 2}}'),
        ("PUT", "{agent}", b'{"active": true, "active": false}'),
        ("PUT", "{agent}/versions/2", b'{"config": {"instructions": "a", "instructions": "b"}}'),
        ("PATCH", "/core/phone-numbers/{number}", b'{"label": "a", "label": "b"}'),
        ("PATCH", "/core/web-widgets/{widget}", b'{"published": false, "published": true}'),
        (
            "POST",
            "/core/conversations/import",
            b'{"conversations": [{"channel": "sms", "status": "completed", '
            b'"metadata": {"a": {"b": 1, "b": 1}}}]}',
        ),
        ("POST", "/admin/organization-pats", b'{"name": "k", "name": "k"}'),
    ],
    ids=["agent", "agent-metadata", "agent-put", "version", "number", "widget", "import", "pat"],
)
async def test_duplicate_keys_are_422(world: World, method: str, url: str, content: bytes) -> None:
    """Parsers disagree on which duplicate wins; a proxy that checked one value must not see the
    app act on the other. Even identical duplicates are refused."""
    url = url.format(
        agent=f"/core/agents/{world.agent['id']}",
        number=world.number,
        widget=world.widget["id"],
    )
    before = await world.snapshot()
    response = await refused(world.tenant.request(method, url, content=content, headers=JSON), 422)
    assert response.json()["detail"][0]["type"] == "json_duplicate_key"
    assert await world.snapshot() == before


async def test_a_duplicate_key_that_no_encoder_accepts(world: World) -> None:
    """The error names the key; a lone surrogate key must not break the error itself."""
    content = b'{"name": "x", "\\udc00": 1, "\\udc00": 2}'
    response = await refused(world.tenant.post("/core/agents", content=content, headers=JSON), 422)
    assert "\\udc00" in response.json()["detail"][0]["msg"]
