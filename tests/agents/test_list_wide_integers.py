"""An agent's metadata may hold a number PostgreSQL's jsonb gives back as an integer beyond 64
bits (a stored `1e300` comes back with 301 digits), which orjson refuses: the list page
FastAPI serves (any request the quick parse refuses) was a 500 for the whole organization."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from callplane.agents.endpoints import _page_json
from tests.factories import Tenant


def test_a_page_with_a_wide_integer_is_written_as_compact_json() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    page = {"data": [{"metadata": {"big": 10**300, "é": 1.5}, "created_at": created}]}
    written = _page_json(page)
    assert written == (
        b'{"data":[{"metadata":{"big":1' + b"0" * 300 + b',"\xc3\xa9":1.5},'
        b'"created_at":"2026-01-02T03:04:05.000600Z"}]}'
    )


async def test_the_list_page_serves_an_agent_with_a_huge_number(tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Huge", metadata={"big": 1e300})
    for query in ["?limit=5", "?limit=5&metadata=%7B%7D", "?created_after=2000-01-01T00:00:00Z"]:
        response = await tenant.get("/core/agents" + query)
        assert response.status_code == 200, (query, response.text)
        [row] = [row for row in json.loads(response.text)["data"] if row["id"] == agent["id"]]
        assert float(row["metadata"]["big"]) == 1e300
