"""NUL bytes (raw and escaped) and invalid UTF-8 in bodies, paths, query strings and headers.
Complements tests/kit/test_nul_characters.py (escaped NUL in agent/version/number bodies)."""

from __future__ import annotations

import pytest

from tests.hostile.world import JSON, World, refused, timed

INVALID_UTF8 = {
    "ff": b"\xff\xfe",
    "overlong": b"\xc0\xaf",
    "surrogate": b"\xed\xa0\x80",  # UTF-8 of a lone surrogate: Python decodes it, PostgreSQL won't
    "truncated": b"\xe2\x82",
}
INVALID_UTF8_ESCAPED = ["%FF%FE", "%C0%AF", "%ED%A0%80", "%E2%82"]


@pytest.mark.parametrize(
    "text", [b"a\x00b", *INVALID_UTF8.values()], ids=["raw-nul", *INVALID_UTF8]
)
async def test_bad_bytes_inside_a_json_string_in_any_write_body(world: World, text: bytes) -> None:
    bodies = {
        "/core/agents": b'{"name": "%s"}',
        "/core/phone-numbers": b'{"phone_number": "+1415555%s"}',
        "/core/conversations/import": (
            b'{"conversations": [{"channel": "sms", "status": "completed", "summary": "%s"}]}'
        ),
    }
    # A raw NUL is a control character JSON forbids in strings; the surrogate decodes (Python's
    # parser is lenient) but cannot be stored; the rest is not UTF-8 at all.
    lone_surrogate = text == INVALID_UTF8["surrogate"]
    before = await world.snapshot()
    for method, url in world.write_targets():
        template = bodies.get(url, b'{"name": "%s", "label": "%s", "config": {"k": "%s"}}')
        content = template.replace(b"%s", text)
        response = await refused(
            world.tenant.request(method, url, content=content, headers=JSON), 400, 422
        )
        if lone_surrogate:
            assert "no lone surrogates" in response.text, (url, response.text)
    assert await world.snapshot() == before


async def test_escaped_nul_in_more_bodies_is_422(world: World) -> None:
    agent = f"/core/agents/{world.agent['id']}"
    widget = world.widget
    conversation = {"channel": "sms", "status": "completed"}
    cases = [
        ("PATCH", f"/core/web-widgets/{widget['id']}", {"config": {"title": "a\u0000"}}),
        ("PATCH", f"/core/web-widgets/{widget['id']}", {"domains": ["a\u0000.example"]}),
        (
            "POST",
            "/core/web-widgets",
            {
                "agent_id": widget["agent_id"],
                "agent_version_id": widget["agent_version_id"],
                "config": {"k\u0000": 1},
            },
        ),
        ("PATCH", f"/core/phone-numbers/{world.number}", {"label": "\u0000"}),
        ("PUT", f"{agent}/versions/2", {"config": {"instructions": "hi\u0000"}}),
        (
            "POST",
            "/core/conversations/import",
            {"conversations": [{**conversation, "summary": "\u0000"}]},
        ),
        (
            "POST",
            "/core/conversations/import",
            {
                "conversations": [
                    {**conversation, "transcript": [{"role": "user", "content": "\u0000"}]}
                ]
            },
        ),
        (
            "POST",
            "/core/conversations/import",
            {"conversations": [{**conversation, "metadata": {"\u0000": 1}}]},
        ),
        ("POST", "/admin/organization-pats", {"name": "key\u0000"}),
        ("POST", "/admin/organization-pats", {"name": "key", "scopes": ["agents:read\u0000"]}),
    ]
    before = await world.snapshot()
    for method, url, body in cases:
        await refused(world.tenant.request(method, url, json=body), 422)
    assert await world.snapshot() == before


def _paths(world: World) -> list[tuple[str, str]]:
    """(method, url with `{}` where the hostile segment goes) for every resource's id."""
    agent = f"/core/agents/{world.agent['id']}"
    return [
        ("GET", "/core/agents/{}"),
        ("PUT", "/core/agents/{}"),
        ("DELETE", "/core/agents/{}"),
        ("GET", agent + "/versions/{}"),
        ("DELETE", agent + "/versions/{}"),
        ("POST", agent + "/versions/{}/publish"),
        ("GET", "/core/phone-numbers/{}"),
        ("PATCH", "/core/phone-numbers/{}"),
        ("DELETE", "/core/phone-numbers/{}"),
        ("GET", "/core/web-widgets/{}"),
        ("PATCH", "/core/web-widgets/{}"),
        ("DELETE", "/core/web-widgets/{}"),
        ("GET", "/core/public/web-widgets/{}"),
        ("GET", "/core/conversations/{}"),
        ("POST", "/core/agents/{}/deploy-as-sip"),
        ("DELETE", "/core/agents/{}/deploy-as-sip"),
        ("GET", "/core/workflows/{}"),
    ]


@pytest.mark.parametrize("segment", ["%00", "a%00b", *INVALID_UTF8_ESCAPED])
async def test_bad_bytes_in_paths_are_400(world: World, segment: str) -> None:
    """A NUL or invalid UTF-8 in the path is refused before routing, whatever the route."""
    before = await world.snapshot()
    for method, url in _paths(world):
        body = {} if method in ("PUT", "PATCH", "POST") else None
        response = await refused(
            world.tenant.request(method, url.replace("{}", segment), json=body), 400
        )
        assert response.json()["code"] == "invalid_characters"
    assert await world.snapshot() == before


@pytest.mark.parametrize("value", ["%00", "a%00", *INVALID_UTF8_ESCAPED])
async def test_bad_bytes_in_query_strings_are_400(world: World, value: str) -> None:
    agent = f"/core/agents/{world.agent['id']}"
    queries = [
        "/core/agents?name={}",
        "/core/agents?metadata=%7B%22k%22%3A%22{}%22%7D",
        "/core/agents?cursor={}",
        "/core/agents?created_after={}",
        "/core/phone-numbers?phone_number={}",
        "/core/web-widgets?agent_id={}",
        "/core/conversations?status={}",
        "/core/workflows?type={}",
        agent + "/versions/diff?from={}&to=1",
        agent + "/versions?{}=1",  # in a parameter's name
    ]
    before = await world.snapshot()
    for query in queries:
        url = query.replace("{}", value)
        response = await refused(world.tenant.get(url), 400)
        assert response.json()["code"] == "invalid_characters", url
    response = await refused(world.tenant.put(f"{agent}?x={value}", json={"name": "q"}), 400)
    assert response.json()["code"] == "invalid_characters"
    assert await world.snapshot() == before


async def test_valid_utf8_in_paths_and_queries_still_works(world: World) -> None:
    """The door refuses only what cannot be text: non-ASCII, percent-encoded, passes."""
    agent = await world.tenant.create_agent(name="Café ☕")
    listed = await timed(world.tenant.get("/core/agents?name=Caf%C3%A9%20%E2%98%95"))
    assert [a["id"] for a in listed.json()["data"]] == [agent["id"]]
    missing = await refused(world.tenant.get("/core/phone-numbers/%E2%98%95"))
    assert missing.json()["code"] != "invalid_characters"


HEADER_VALUES = {"nul": b"a\x00b", **INVALID_UTF8, "latin1": "é".encode("latin-1")}


@pytest.mark.parametrize("value", HEADER_VALUES.values(), ids=HEADER_VALUES.keys())
async def test_bad_bytes_in_credential_headers_are_401_or_403(world: World, value: bytes) -> None:
    """In the credential itself, or in the organization a token names."""
    client = world.tenant.client
    token = world.tenant.token_headers["Authorization"].encode()
    before = await world.snapshot()
    for headers in (
        [(b"authorization", value)],
        [(b"authorization", b"Bearer " + value)],
        [(b"authorization", token), (b"x-anyreach-org", value)],
    ):
        await refused(client.get("/core/agents", headers=headers), 401, 403)
        await refused(client.post("/core/agents", json={"name": "x"}, headers=headers), 401, 403)
    assert await world.snapshot() == before


@pytest.mark.parametrize("value", HEADER_VALUES.values(), ids=HEADER_VALUES.keys())
async def test_bad_bytes_in_other_headers(world: World, value: bytes) -> None:
    """If-Match → 412; Idempotency-Key → 400; Content-Type → 422: all before any write. The
    public widget (allowed anywhere) no longer echoes such an Origin into its CORS header."""
    agent = f"/core/agents/{world.agent['id']}"
    auth = (b"authorization", world.tenant.headers["Authorization"].encode())
    body = b'{"name": "changed"}'
    before = await world.snapshot()
    for url in (agent, f"{agent}/versions/2"):
        content = body if url == agent else b'{"config": {"instructions": "changed"}}'
        await refused(
            world.tenant.client.put(
                url, content=content, headers=[auth, (b"if-match", value), *JSON.items()]
            ),
            412,
        )
    idempotent = [auth, (b"idempotency-key", value), (b"content-type", b"application/json")]
    await refused(world.tenant.client.post("/core/agents", content=body, headers=idempotent), 400)
    typed = [auth, (b"content-type", value)]
    await refused(world.tenant.client.post("/core/agents", content=body, headers=typed), 422)
    assert await world.snapshot() == before

    public = f"/core/public/web-widgets/{world.widget['id']}"
    for method in ("GET", "OPTIONS"):
        response = await timed(
            world.tenant.client.request(method, public, headers=[(b"origin", value)])
        )
        assert response.status_code in (200, 204)
        assert "access-control-allow-origin" not in response.headers
