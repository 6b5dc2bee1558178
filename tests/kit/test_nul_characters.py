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


async def test_values_the_databases_cannot_store_are_422(tenant: Tenant) -> None:
    """NaN/Infinity (Python's JSON parser accepts them), integers beyond 64 bits, lone
    surrogates: each a 422, and nothing written."""
    raw_bodies = [
        b'{"name": "x", "metadata": {"a": NaN}}',
        b'{"name": "x", "metadata": {"a": Infinity}}',
        b'{"name": "x", "metadata": {"a": 18446744073709551616}}',
        b'{"name": "x", "metadata": {"\\udc00": 1}}',
    ]
    for raw in raw_bodies:
        response = await tenant.post(
            "/core/agents", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)
    assert (await tenant.get("/core/agents")).json()["data"] == []
    big = await tenant.get("/core/agents", params={"metadata": '{"a": 9223372036854775813}'})
    assert big.status_code == 422


async def test_out_of_range_times_and_odd_cursors_are_4xx(tenant: Tenant) -> None:
    for params in (
        {"created_after": "0001-01-01T00:00:00+05:00"},
        {"created_before": "9999-12-31T23:59:59-05:00"},
    ):
        assert (await tenant.get("/core/agents", params=params)).status_code == 422, params
    for cursor in (
        "W3sidCI6ICIyMDIwLTAxLTAxVDAwOjAwOjAwIn0sIHsidSI6IDV9XQ",  # {"u": 5}
        "W3sidCI6ICIwMDAxLTAxLTAxVDAwOjAwOjAwKzA1OjAwIn0sIHsidSI6ICJhYiJ9XQ",  # year 1, +05:00
    ):
        response = await tenant.get("/core/agents", params={"cursor": cursor})
        assert response.status_code == 400, cursor
    imported = await tenant.post(
        "/core/conversations/import",
        json={
            "conversations": [
                {
                    "channel": "telephone",
                    "status": "completed",
                    "started_at": "0001-01-01T00:00:00+05:00",
                }
            ]
        },
    )
    assert imported.status_code == 422
