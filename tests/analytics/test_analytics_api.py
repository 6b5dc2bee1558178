"""Conversation analytics: the database's numbers against a Python computation on the same
imported conversations, on both dialects; and bad input → 422, other organizations → nothing."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callplane.analytics.schemas import ConversationAnalytics
from tests.factories import Tenant

URL = "/core/analytics/conversations"
STATUSES = ["completed", "failed", "missed", "abandoned"]
CHANNELS = ["telephone", "webrtc", "text", "sms"]
REASONS = [None, "ended_by_user", "hangup", "cold_transfer", "error"]
DAY0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def nearest_rank(values: list[float], p: int) -> float | None:
    """Nearest rank over the durations rounded down to the whole second (what analytics
    report: exact at that resolution)."""
    if not values:
        return None
    ordered = sorted(values)
    return float(math.floor(ordered[math.ceil(p * len(ordered) / 100) - 1]))


def records(agent_id: str, versions: list[str], count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        started = DAY0 + timedelta(seconds=rng.randrange(0, 4 * 24 * 3600))
        tools = rng.randrange(0, 3)
        transcript = [{"role": "user", "content": "hi"}] + [
            {"role": "tool", "content": "{}"} for _ in range(tools)
        ]
        made.append(
            {
                "agent_id": agent_id,
                "agent_version_id": rng.choice(versions),
                "channel": rng.choice(CHANNELS),
                "status": rng.choice(STATUSES),
                "ended_reason": rng.choice(REASONS),
                "successful": rng.choice([None, True, False]),
                # a few ties and unknown durations, so ranks and counts are both exercised
                "duration_seconds": rng.choice(
                    [None, 30.0, float(rng.randrange(1, 900)), rng.randrange(1, 90000) / 100]
                ),
                "started_at": iso(started),
                "transcript": transcript,
            }
        )
    return made


def expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    durations = [r["duration_seconds"] for r in rows if r["duration_seconds"] is not None]
    judged = [r["successful"] for r in rows if r["successful"] is not None]
    return {
        "total": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "by_channel": dict(Counter(r["channel"] for r in rows)),
        "by_ended_reason": dict(Counter(r["ended_reason"] or "unknown" for r in rows)),
        "counted": len(durations),
        "average": sum(durations) / len(durations) if durations else None,
        "p50": nearest_rank(durations, 50),
        "p90": nearest_rank(durations, 90),
        "evaluated": len(judged),
        "successful": sum(judged),
        "success_rate": sum(judged) / len(judged) if judged else None,
        "tool_calls": sum(sum(1 for t in r["transcript"] if t["role"] == "tool") for r in rows),
    }


def observed(metrics: dict[str, Any]) -> dict[str, Any]:
    durations = metrics["duration_seconds"]
    return {
        "total": metrics["total"],
        "by_status": metrics["by_status"],
        "by_channel": metrics["by_channel"],
        "by_ended_reason": metrics["by_ended_reason"],
        "counted": durations["counted"],
        "average": durations["average"],
        "p50": durations["p50"],
        "p90": durations["p90"],
        "evaluated": metrics["evaluated"],
        "successful": metrics["successful"],
        "success_rate": metrics["success_rate"],
        "tool_calls": metrics["tool_calls"],
    }


def same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float) and b[key] is not None:
            assert a[key] == pytest.approx(b[key]), key
        else:
            assert a[key] == b[key], key


async def setup(tenant: Tenant, count: int = 120) -> tuple[str, list[dict[str, Any]], list[Any]]:
    agent = await tenant.create_agent()
    versions = [await tenant.create_version(agent["id"]) for _ in range(2)]
    rows = records(agent["id"], [v["id"] for v in versions], count, seed=count)
    response = await tenant.post("/core/conversations/import", json={"conversations": rows})
    assert response.status_code == 201, response.text
    return agent["id"], rows, versions


@pytest.mark.parametrize("interval", ["day", "hour", "week"])
async def test_buckets_match_a_python_computation(tenant: Tenant, interval: str) -> None:
    agent_id, rows, versions = await setup(tenant)
    width = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[
        interval
    ]
    start, end = DAY0, DAY0 + timedelta(days=4)
    response = await tenant.get(
        URL,
        params={"agent_id": agent_id, "from": iso(start), "to": iso(end), "interval": interval},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    buckets = body["buckets"]
    assert len(buckets) == -(-(end - start) // width)
    number = {v["id"]: v["version"] for v in versions}
    for index, bucket in enumerate(buckets):
        low = start + width * index
        assert bucket["start"] == iso(low)
        assert bucket["end"] == iso(low + width)
        inside = [
            r
            for r in rows
            if low <= datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")) < low + width
        ]
        same(observed(bucket), expected(inside))
        seen = {r["agent_version_id"] for r in inside}
        assert [v["agent_version_id"] for v in bucket["versions"]] == sorted(
            seen, key=lambda v: number[v]
        )
        for per_version in bucket["versions"]:
            assert per_version["version"] == number[per_version["agent_version_id"]]
            mine = [r for r in inside if r["agent_version_id"] == per_version["agent_version_id"]]
            same(observed(per_version), expected(mine))
    assert sum(b["total"] for b in buckets) == len(rows)


async def test_the_answer_is_the_models_json(tenant: Tenant) -> None:
    """The answer is encoded once by orjson from plain dicts (issue 12): byte for byte the JSON
    the models write of the same answer — field order, `from`, timestamps with `Z` (and `to`
    with microseconds by default), empty buckets' nulls, a conversation without a version."""
    agent_id, _, _ = await setup(tenant, count=40)
    await tenant.import_conversation(agent_id)  # now, without a version
    for params in (
        {"from": iso(DAY0 - timedelta(days=1)), "to": iso(DAY0 + timedelta(days=5))},
        {"agent_id": agent_id, "interval": "hour"},
        {},
    ):
        response = await tenant.get(URL, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        answer = ConversationAnalytics.model_validate_json(response.content)
        assert response.content == answer.model_dump_json(by_alias=True).encode()
        assert sum(bucket.total for bucket in answer.buckets) > 0


async def test_version_filter_and_partial_range(tenant: Tenant) -> None:
    _, rows, versions = await setup(tenant, count=60)
    version_id = versions[1]["id"]
    start = DAY0 + timedelta(hours=30)  # mid-day: the first bucket is cut at `from`
    end = DAY0 + timedelta(days=3, hours=5)
    response = await tenant.get(
        URL,
        params={"version_id": version_id, "from": iso(start), "to": iso(end), "interval": "day"},
    )
    assert response.status_code == 200, response.text
    buckets = response.json()["buckets"]
    assert buckets[0]["start"] == iso(DAY0 + timedelta(days=1))
    assert buckets[-1]["end"] == iso(DAY0 + timedelta(days=4))
    for bucket in buckets:
        low = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
        inside = [
            r
            for r in rows
            if r["agent_version_id"] == version_id
            and max(low, start)
            <= datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
            < min(low + timedelta(days=1), end)
        ]
        same(observed(bucket), expected(inside))


async def test_other_organizations_conversations_are_not_counted(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id, rows, _ = await setup(tenant, count=20)
    params = {"from": iso(DAY0), "to": iso(DAY0 + timedelta(days=4))}
    mine = (await tenant.get(URL, params=params)).json()["buckets"]
    assert sum(b["total"] for b in mine) >= len(rows)
    theirs = await other_tenant.get(URL, params={**params, "agent_id": agent_id})
    assert theirs.status_code == 200
    assert sum(b["total"] for b in theirs.json()["buckets"]) == 0
    empty = theirs.json()["buckets"][0]
    assert empty["duration_seconds"] == {"counted": 0, "average": None, "p50": None, "p90": None}
    assert empty["success_rate"] is None and empty["versions"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
        {"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "interval": "hour"},
        {"interval": "month"},
        {"from": "yesterday"},
        {"from": "2026"},
        {"agent_id": "not-a-uuid"},
    ],
)
async def test_bad_input_is_422(tenant: Tenant, params: dict[str, str]) -> None:
    response = await tenant.get(URL, params=params)
    assert response.status_code == 422, response.text


async def test_needs_a_conversations_read_scope(tenant: Tenant) -> None:
    headers = await tenant.key_with("agents:read")
    response = await tenant.client.get(URL, headers=headers)
    assert response.status_code == 403
    headers = await tenant.key_with("conversations:read")
    assert (await tenant.client.get(URL, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0208-12-03T13:17:00Z", "0208-12-04T01:30:00Z"),
        ("2100-01-01T00:10:00Z", "2100-01-02T23:59:00Z"),
    ],
)
async def test_ranges_far_from_today_are_answered(tenant: Tenant, start: str, end: str) -> None:
    """Their Unix times do not fit 32 bits (a fuzzed `from` in year 208 was a 500 on PostgreSQL)."""
    agent = await tenant.create_agent()
    await tenant.import_conversation(agent["id"])
    response = await tenant.get(URL, params={"from": start, "to": end, "interval": "hour"})
    assert response.status_code == 200, response.text
    buckets = response.json()["buckets"]
    assert buckets and all(bucket["total"] == 0 for bucket in buckets)


@pytest.mark.parametrize(
    "start, end",
    [
        # both edges in the first/last hours of their days: each day read whole, the minutes
        # and hours outside the range taken away
        (
            DAY0 + timedelta(days=1, hours=2, minutes=17, seconds=5),
            DAY0 + timedelta(days=3, hours=21, minutes=43),
        ),
        # both edges late/early in their days: hours and minutes added to the whole days
        (DAY0 + timedelta(hours=18, minutes=5), DAY0 + timedelta(days=2, hours=3, minutes=10)),
        # just under half a day out at each edge
        (DAY0 + timedelta(hours=11, minutes=59), DAY0 + timedelta(days=3, hours=12, minutes=1)),
        # both edges in one day: hours and minutes only
        (DAY0 + timedelta(days=1, seconds=30), DAY0 + timedelta(days=1, hours=23, minutes=59)),
    ],
)
async def test_ranges_cut_inside_days_match_a_python_computation(
    tenant: Tenant, start: datetime, end: datetime
) -> None:
    """Whatever part of a day the range leaves out — taken away from the day's rollups or not —
    the numbers are those of the conversations inside, in day and week buckets: statuses,
    channels, reasons and a version seen only outside the range are not reported, not even as
    zeros."""
    agent_id, rows, versions = await setup(tenant)
    outside = await tenant.create_version(agent_id)
    stray = [
        {**records(agent_id, [outside["id"]], 1, seed=7)[0], "started_at": iso(moment)}
        for moment in (start - timedelta(minutes=3), end + timedelta(minutes=2))
    ]
    for row in stray:
        row["status"], row["channel"], row["ended_reason"] = "missed", "email", "idle_timeout"
    response = await tenant.post("/core/conversations/import", json={"conversations": stray})
    assert response.status_code == 201, response.text
    rows = rows + stray
    number = {v["id"]: v["version"] for v in [*versions, outside]}
    for interval in ("day", "week"):
        response = await tenant.get(
            URL,
            params={"agent_id": agent_id, "from": iso(start), "to": iso(end), "interval": interval},
        )
        assert response.status_code == 200, response.text
        counted = 0
        for bucket in response.json()["buckets"]:
            low = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
            high = datetime.fromisoformat(bucket["end"].replace("Z", "+00:00"))
            inside = [
                r
                for r in rows
                if max(low, start)
                <= datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
                < min(high, end)
            ]
            counted += len(inside)
            same(observed(bucket), expected(inside))
            seen = {r["agent_version_id"] for r in inside}
            assert [v["agent_version_id"] for v in bucket["versions"]] == sorted(
                seen, key=lambda v: number[v]
            )
            for per_version in bucket["versions"]:
                mine = [
                    r for r in inside if r["agent_version_id"] == per_version["agent_version_id"]
                ]
                same(observed(per_version), expected(mine))
        assert counted == sum(
            start <= datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")) < end
            for r in rows
        )
