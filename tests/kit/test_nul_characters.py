"""NUL characters: PostgreSQL cannot store them in text, so every way in refuses them (4xx, not
500) on both databases, and nothing is written."""

from __future__ import annotations

import orjson

from tests.factories import Tenant


async def test_bodies_with_nul_are_422(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    cases = [
        ("POST", "/core/agents", {"name": "a\u0000b"}),
        ("POST", "/core/agents", {"name": "ok", "metadata": {"k\u0000": "v"}}),
        ("PUT", f"/core/agents/{agent['id']}", {"description": "x\u0000"}),
        ("POST", f"/core/agents/{agent['id']}/versions", {"config": {"instructions": "\u0000"}}),
        ("POST", "/core/phone-numbers", {"phone_number": "+14155550100", "label": "\u0000"}),
    ]
    for method, url, body in cases:
        response = await tenant.request(method, url, json=body)
        assert response.status_code == 422, (url, response.text)
    listed = (await tenant.get("/core/agents")).json()["data"]
    assert [a["id"] for a in listed] == [agent["id"]]
    assert (await tenant.get(f"/core/agents/{agent['id']}/versions")).json()["data"] == []


async def test_urls_with_nul_are_400(tenant: Tenant) -> None:
    for url in (
        "/core/agents?name=a%00b",
        "/core/phone-numbers?phone_number=%00",
        "/core/workflows/abc%00def",
    ):
        response = await tenant.get(url)
        assert response.status_code == 400, url
        assert response.json()["code"] == "invalid_characters"


async def test_metadata_filter_with_nul_is_422(tenant: Tenant) -> None:
    response = await tenant.get(
        "/core/agents", params={"metadata": orjson.dumps({"a\u0000": 1}).decode()}
    )
    assert response.status_code == 422
