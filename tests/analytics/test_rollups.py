"""The rollups analytics read (`conversation_rollups`, `conversation_duration_rollups`) are kept
by triggers in the transaction of every write. After each kind of write — import, live start and
end, analysis, an edit of any counted column (moving buckets too), deletion, the organization's
deletion, 50 concurrent ends — the rollups equal a Python computation from the raw rows, and so
does the analytics answer over a range with raw edges, hourly and daily parts (both dialects)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from callplane.db.engine import Database
from callplane.models import (
    Conversation,
    ConversationDurationRollup,
    ConversationRollup,
    Organization,
)
from callplane.models.conversation_rollup import DAY, HOUR, NO_ID
from tests.analytics.test_analysis import wait_analyzed
from tests.analytics.test_analytics_api import iso, nearest_rank, records, same
from tests.factories import Tenant

URL = "/core/analytics/conversations"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Key = tuple[Any, ...]


async def raw_rows(database: Database, organization_id: uuid.UUID) -> list[Conversation]:
    async with database.session(write=False) as session:
        statement = select(Conversation).where(Conversation.organization_id == organization_id)
        return list((await session.scalars(statement)).all())


def happened(row: Conversation) -> datetime:
    return row.started_at or row.created_at


def expected_rollups(rows: list[Conversation]) -> tuple[dict[Key, list[Any]], Counter[Key]]:
    counts: dict[Key, list[Any]] = {}
    histogram: Counter[Key] = Counter()
    for row in rows:
        hours = (happened(row) - _EPOCH) // timedelta(hours=1)
        for grain, period in ((HOUR, hours), (DAY, hours // 24)):
            keys = (grain, period, row.agent_id or NO_ID, row.agent_version_id or NO_ID)
            key = (*keys, row.status, row.channel, row.ended_reason or "")
            sums = counts.setdefault(key, [0, 0, 0, 0, 0, 0.0])
            sums[0] += 1
            sums[1] += row.successful is not None
            sums[2] += row.successful is True
            sums[3] += row.tool_call_count or 0
            if row.duration_seconds is not None:
                sums[4] += 1
                sums[5] += row.duration_seconds
                histogram[(*keys, math.floor(row.duration_seconds))] += 1
    return counts, histogram


async def actual_rollups(
    database: Database, organization_id: uuid.UUID
) -> tuple[dict[Key, list[Any]], Counter[Key]]:
    c, h = ConversationRollup, ConversationDurationRollup
    async with database.session(write=False) as session:
        counted = await session.execute(
            select(
                c.grain, c.period, c.agent_key, c.version_key, c.status, c.channel,
                c.ended_reason, c.total, c.evaluated, c.successful, c.tool_calls, c.timed,
                c.duration_sum,
            ).where(c.organization_id == organization_id, c.total != 0)
        )  # fmt: skip
        seconds = await session.execute(
            select(h.grain, h.period, h.agent_key, h.version_key, h.second, h.n).where(
                h.organization_id == organization_id, h.n != 0
            )
        )
        counts = {tuple(row[:7]): list(row[7:]) for row in counted}
        histogram = Counter({tuple(row[:5]): row[5] for row in seconds})
    return counts, histogram


def expected_metrics(rows: list[Conversation]) -> dict[str, Any]:
    durations = [r.duration_seconds for r in rows if r.duration_seconds is not None]
    judged = [r.successful for r in rows if r.successful is not None]
    return {
        "total": len(rows),
        "by_status": dict(Counter(r.status for r in rows)),
        "by_channel": dict(Counter(r.channel for r in rows)),
        "by_ended_reason": dict(Counter(r.ended_reason or "unknown" for r in rows)),
        "counted": len(durations),
        "average": sum(durations) / len(durations) if durations else None,
        "p50": nearest_rank(durations, 50),
        "p90": nearest_rank(durations, 90),
        "evaluated": len(judged),
        "successful": sum(judged),
        "success_rate": sum(judged) / len(judged) if judged else None,
        "tool_calls": sum(r.tool_call_count or 0 for r in rows),
    }


def observed(metrics: dict[str, Any]) -> dict[str, Any]:
    durations = metrics["duration_seconds"]
    return {
        **{k: metrics[k] for k in ("total", "by_status", "by_channel", "by_ended_reason")},
        "counted": durations["counted"],
        "average": durations["average"],
        "p50": durations["p50"],
        "p90": durations["p90"],
        **{k: metrics[k] for k in ("evaluated", "successful", "success_rate", "tool_calls")},
    }


async def check(tenant: Tenant, database: Database) -> list[Conversation]:
    """`compare`, again while it fails for up to 10 s: the post-conversation analysis (started at
    once, in the background) may write a conversation between the raw read and the rollup and
    API reads. A wrong rollup stays wrong, so it still fails."""
    for _ in range(100):
        try:
            return await compare(tenant, database)
        except AssertionError:
            await asyncio.sleep(0.1)
    return await compare(tenant, database)


async def compare(tenant: Tenant, database: Database) -> list[Conversation]:
    """Rollups == Python over the raw rows; analytics (day buckets; a range whose edges are
    partial hours and partial days) == Python over the raw rows, per bucket and version."""
    rows = await raw_rows(database, tenant.organization_id)
    want_counts, want_histogram = expected_rollups(rows)
    counts, histogram = await actual_rollups(database, tenant.organization_id)
    assert counts.keys() == want_counts.keys()
    for key, sums in counts.items():
        assert sums[:5] == want_counts[key][:5], key
        assert sums[5] == pytest.approx(want_counts[key][5]), key
    assert histogram == want_histogram
    if not rows:
        return rows
    start = min(map(happened, rows)) - timedelta(minutes=90, seconds=17)
    end = max(map(happened, rows)) + timedelta(hours=26, seconds=13)
    for agent_id in {r.agent_id for r in rows}:
        response = await tenant.get(
            URL,
            params={
                "agent_id": str(agent_id),
                "from": iso(start),
                "to": iso(end),
                "interval": "day",
            },
        )
        assert response.status_code == 200, response.text
        for bucket in response.json()["buckets"]:
            low = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
            high = datetime.fromisoformat(bucket["end"].replace("Z", "+00:00"))
            inside = [
                r
                for r in rows
                if r.agent_id == agent_id and max(low, start) <= happened(r) < min(high, end)
            ]
            same(observed(bucket), expected_metrics(inside))
            for per_version in bucket["versions"]:
                version = per_version["agent_version_id"]
                mine = [r for r in inside if str(r.agent_version_id) == version]
                same(observed(per_version), expected_metrics(mine))
    return rows


async def test_imports_edits_deletions_and_live_ends_keep_the_rollups(
    tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    agent = await tenant.create_agent()
    versions = [await tenant.create_version(agent["id"]) for _ in range(2)]
    made = records(agent["id"], [v["id"] for v in versions], 40, seed=7)
    response = await tenant.post("/core/conversations/import", json={"conversations": made})
    assert response.status_code == 201, response.text
    untouched = await other_tenant.import_conversation((await other_tenant.create_agent())["id"])
    rows = await check(tenant, database)

    # live: started (in progress, no duration), then ended (status, reason, duration)
    started = await tenant.post(
        f"/core/agents/{agent['id']}/conversations", json={"version": "latest"}
    )
    assert started.status_code == 201, started.text
    await check(tenant, database)
    ended = await tenant.post(f"/core/conversations/{started.json()['id']}/end")
    assert ended.status_code == 200, ended.text
    await check(tenant, database)

    # every counted column edited, one at a time (the conversation moves between keys, hours
    # and days); then a deletion
    target = rows[0].id
    edits: list[dict[str, Any]] = [
        {"successful": True},
        {"successful": None},
        {"tool_call_count": 5},
        {"duration_seconds": 1234.56},
        {"duration_seconds": None},
        {"status": "failed", "ended_reason": "error"},
        {"channel": "sms"},
        {"agent_version_id": uuid.UUID(versions[1]["id"])},
        {"started_at": rows[0].started_at + timedelta(days=1, minutes=7)},
        {"started_at": None},  # falls back on created_at: today
    ]
    for values in edits:
        async with database.session(write=True) as session, session.begin():
            await session.execute(
                update(Conversation).where(Conversation.id == target).values(**values)
            )
        await check(tenant, database)
    async with database.session(write=True) as session, session.begin():
        await session.execute(delete(Conversation).where(Conversation.id == rows[1].id))
    await check(tenant, database)
    other_rollups = await actual_rollups(database, other_tenant.organization_id)
    assert other_rollups[0] and untouched


async def test_offline_analysis_updates_the_rollups(tenant: Tenant, database: Database) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(
        agent["id"], config={"instructions": "Help.", "analysis": {"summary": True}}
    )
    record = {
        "agent_id": agent["id"],
        "agent_version_id": version["id"],
        "channel": "telephone",
        "status": "completed",
        "duration_seconds": 75.5,
        "transcript": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "{}"}],
    }
    response = await tenant.post("/core/conversations/import", json={"conversations": [record]})
    assert response.status_code == 201, response.text
    await wait_analyzed(tenant, str(response.json()["ids"][0]))
    rows = await check(tenant, database)
    assert rows[0].tool_call_count == 1


async def test_an_organizations_deletion_takes_its_rollups(
    tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    for each in (tenant, other_tenant):
        await each.import_conversation((await each.create_agent())["id"])
    theirs = await actual_rollups(database, other_tenant.organization_id)
    async with database.session(write=True) as session, session.begin():
        await session.execute(delete(Organization).where(Organization.id == tenant.organization_id))
    assert await actual_rollups(database, tenant.organization_id) == ({}, Counter())
    assert await actual_rollups(database, other_tenant.organization_id) == theirs


async def test_fifty_concurrent_ends_lose_no_count(
    tenant: Tenant, database: Database, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has one writer: concurrency is PostgreSQL's")
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    ids = []
    for _ in range(50):
        started = await tenant.post(
            f"/core/agents/{agent['id']}/conversations", json={"version": "latest"}
        )
        assert started.status_code == 201, started.text
        ids.append(started.json()["id"])
    responses = await asyncio.gather(*(tenant.post(f"/core/conversations/{i}/end") for i in ids))
    assert [r.status_code for r in responses] == [200] * 50
    rows = await check(tenant, database)
    assert Counter(r.status for r in rows) == {"completed": 50}
