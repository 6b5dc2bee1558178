"""Timestamps far out of range in time filters and in conversation imports; the extremes that are
in range work on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hostile.world import World, refused, timed

OUT_OF_RANGE = [
    "0000-01-01T00:00:00Z",  # year 0
    "10000-01-01T00:00:00Z",  # year 10000
    "-0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",  # year 0 once in UTC
    "9999-12-31T23:59:59-05:00",  # year 10000 once in UTC
    "1e20",
    "-1e20",
    "100000000000000000000",  # 1e20 epoch seconds, written out
    "-100000000000000000000",
    "2020-13-45T25:61:61Z",
    "nan",
    "",
]
IN_RANGE_EXTREMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
TIME_FILTERS = ["created_after", "created_before", "updated_after", "updated_before"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_out_of_range_time_filters_are_422(world: World, value: str) -> None:
    for url in (
        "/core/agents",
        f"/core/agents/{world.agent['id']}/versions",
        "/core/conversations",
    ):
        for name in TIME_FILTERS:
            await refused(world.tenant.get(url, params={name: value}), 422)


async def test_in_range_extremes_filter_on_both_databases(world: World) -> None:
    earliest, latest = IN_RANGE_EXTREMES
    for url in ("/core/agents", "/core/conversations"):
        everything = await timed(
            world.tenant.get(url, params={"created_after": earliest, "updated_before": latest})
        )
        assert len(everything.json()["data"]) == 1, url
        nothing = await timed(
            world.tenant.get(url, params={"created_before": earliest, "updated_after": latest})
        )
        assert nothing.json()["data"] == [], url


def _import(**fields: Any) -> dict[str, Any]:
    return {"conversations": [{"channel": "sms", "status": "completed", **fields}]}


@pytest.mark.parametrize("value", [v for v in OUT_OF_RANGE if v] + [1e20, -1e20, 10**30, "1e400"])
async def test_out_of_range_import_times_are_422(world: World, value: Any) -> None:
    before = await world.snapshot()
    for body in (
        _import(started_at=value),
        _import(ended_at=value),
        _import(transcript=[{"role": "user", "content": "hi", "at": value}]),
    ):
        await refused(world.tenant.post("/core/conversations/import", json=body), 422)
    assert await world.snapshot() == before


async def test_in_range_extreme_import_is_readable(world: World) -> None:
    """A conversation spanning year 1 to year 9999 stores, lists, reads, and feeds the agent's
    stats on both databases."""
    earliest, latest = IN_RANGE_EXTREMES
    imported = await timed(
        world.tenant.post(
            "/core/conversations/import",
            json=_import(
                agent_id=world.agent["id"],
                started_at=earliest,
                ended_at=latest,
                transcript=[{"role": "user", "content": "hi", "at": earliest}],
            ),
        )
    )
    assert imported.status_code == 201, imported.text
    conversation_id = imported.json()["ids"][0]
    read = await timed(world.tenant.get(f"/core/conversations/{conversation_id}"))
    assert (read.json()["started_at"], read.json()["ended_at"]) == (earliest, latest)
    listed = await timed(world.tenant.get("/core/conversations", params={"limit": 100}))
    assert conversation_id in [c["id"] for c in listed.json()["data"]]
    detail = await timed(world.tenant.get(f"/core/agents/{world.agent['id']}"))
    assert detail.json()["conversation_stats"]["total"] == 2


@pytest.mark.parametrize("value", ["2026", "1700000000", "-1", "0", "+12", "1.5", " 2026 "])
async def test_bare_numbers_are_not_timestamps(world: World, value: str) -> None:
    """`created_after=2026` means a year to a person and 2026 s after the epoch to a parser:
    refused rather than silently filtering from 1970."""
    for name in TIME_FILTERS:
        response = await refused(world.tenant.get("/core/agents", params={name: value}), 422)
        assert "ISO-8601" in response.text, response.text
