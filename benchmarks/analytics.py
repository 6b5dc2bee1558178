"""Conversation analytics at 1M conversations on PostgreSQL (`python -m benchmarks.analytics`).

Target (issue 12): p50 ≤ 100 ms for 30 daily buckets over 1,000,000 conversations. The rows are
bulk-inserted by PostgreSQL itself (`INSERT … SELECT … FROM generate_series`) into a database
of their own (`callplane_bench_analytics`, recreated unless `--skip-seed`). Two shapes:

- `all in range`: one agent whose 1,000,000 conversations all fall in the 30 days asked for
  (every row is counted and ranked: the worst case);
- `one of 20 agents`: the same table, the query for one agent over 30 days of a year in which
  20 agents share another 1,000,000 conversations (what a dashboard usually asks).

The figure is the p50 of `AnalyticsService.conversations` (the endpoint's work: both SQL
statements and the layout, without HTTP) over repeated calls after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from benchmarks import database
from callplane.analytics.service import AnalyticsService
from callplane.db.engine import Database, create_engine

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_analytics"
ROWS = 1_000_000
END = datetime(2026, 12, 1, tzinfo=UTC)
TARGET_MS = 100.0

_INSERT = """
INSERT INTO conversations (id, organization_id, agent_id, agent_version_id, channel, direction,
    status, duration_seconds, turns, started_at, ended_at, metadata, created_at, updated_at,
    ended_reason, tool_call_count, successful, analysis_status)
SELECT gen_random_uuid(), $1, ($2::uuid[])[1 + (i % array_length($2::uuid[], 1))],
    ($3::uuid[])[1 + (i % array_length($3::uuid[], 1))],
    (ARRAY['telephone','webrtc','text','sms','email'])[1 + (i % 5)],
    'inbound',
    (ARRAY['completed','completed','completed','failed','missed','abandoned'])[1 + (i % 6)],
    CASE WHEN i % 17 = 0 THEN NULL ELSE (random() * 900)::float8 END,
    1 + (i % 20),
    $4::timestamptz - random() * $5::interval,
    NULL, '{}'::jsonb, now(), now(),
    (ARRAY['ended_by_user','hangup','cold_transfer','idle_timeout',NULL])[1 + (i % 5)],
    i % 4,
    CASE WHEN i % 3 = 0 THEN NULL ELSE (i % 3 = 1) END,
    'partial'
FROM generate_series(1, $6::int) AS i
"""


async def _agent(
    connection: asyncpg.Connection, org: uuid.UUID, versions: int
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    agent_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO agents (id, organization_id, name, active, is_demo, metadata, sip_enabled,"
        " revision, created_at, updated_at) VALUES ($1, $2, 'bench', true, false, '{}', false,"
        " 1, now(), now())",
        agent_id,
        org,
    )
    ids = []
    for number in range(1, versions + 1):
        version_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO agent_versions (id, organization_id, agent_id, version, published,"
            " config, instructions_status, instructions_dirty, instructions_manually_edited,"
            " revision, created_at, updated_at) VALUES ($1, $2, $3, $4, true, '{}', 'idle',"
            " false, false, 1, now(), now())",
            version_id,
            org,
            agent_id,
            number,
        )
        ids.append(version_id)
    return agent_id, ids


async def seed(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two organizations of 1M conversations each: (org, agent) of the first and the
    agent asked about in the second."""
    await database.recreate(url)
    await asyncio.to_thread(database.upgrade, url)
    dense = await database.create_org(url, "analytics-dense")
    spread = await database.create_org(url, "analytics-spread")
    connection = await asyncpg.connect(database.asyncpg_dsn(url))
    try:
        agent, versions = await _agent(connection, dense.id, 3)
        started = time.perf_counter()
        await connection.execute(
            _INSERT, dense.id, [agent], versions, END, timedelta(days=30), ROWS
        )
        agents = [await _agent(connection, spread.id, 2) for _ in range(20)]
        await connection.execute(
            _INSERT,
            spread.id,
            [a for a, _ in agents],
            [v for _, vs in agents for v in vs],
            END,
            timedelta(days=365),
            ROWS,
        )
        print(f"inserted {2 * ROWS:,} conversations in {time.perf_counter() - started:.0f} s")
        await connection.execute("VACUUM ANALYZE conversations")
        org_of = {"dense": dense.id, "spread": spread.id}
        with_ids = await connection.fetchrow(
            "SELECT agent_id FROM conversations WHERE organization_id = $1 LIMIT 1", spread.id
        )
    finally:
        await connection.close()
    return org_of["dense"], agent, with_ids["agent_id"]


async def existing(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    connection = await asyncpg.connect(database.asyncpg_dsn(url))
    try:
        dense = await connection.fetchrow(
            "SELECT o.id, c.agent_id FROM organizations o JOIN conversations c"
            " ON c.organization_id = o.id WHERE o.name = 'analytics-dense' LIMIT 1"
        )
        spread = await connection.fetchrow(
            "SELECT c.agent_id FROM organizations o JOIN conversations c"
            " ON c.organization_id = o.id WHERE o.name = 'analytics-spread' LIMIT 1"
        )
    finally:
        await connection.close()
    return dense["id"], dense["agent_id"], spread["agent_id"]


async def _organization_of(db: Database, agent_id: uuid.UUID) -> uuid.UUID:
    async with db.session(write=False) as session:
        from sqlalchemy import select

        from callplane.models import Agent

        return (
            await session.scalars(select(Agent.organization_id).where(Agent.id == agent_id))
        ).one()


async def measure(db: Database, agent_id: uuid.UUID, calls: int) -> tuple[list[float], int]:
    organization_id = await _organization_of(db, agent_id)
    timings: list[float] = []
    total = 0
    for attempt in range(calls + 3):
        started = time.perf_counter()
        async with db.session(write=False) as session:
            result = await AnalyticsService(session, organization_id).conversations(
                agent_id=agent_id,
                version_id=None,
                start=END - timedelta(days=30),
                end=END,
                interval="day",
            )
        elapsed = (time.perf_counter() - started) * 1000
        if attempt >= 3:  # warm-up
            timings.append(elapsed)
        total = sum(bucket.total for bucket in result.buckets)
        assert len(result.buckets) in (30, 31)
    return timings, total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--results", type=Path, default=None, help="append a section here")
    args = parser.parse_args()
    if args.skip_seed and await database.exists(args.database_url):
        _, dense_agent, spread_agent = await existing(args.database_url)
    else:
        _, dense_agent, spread_agent = await seed(args.database_url)
    db = Database(create_engine(args.database_url, pool_size=2))
    lines = []
    try:
        for label, agent_id in (("all in range", dense_agent), ("one of 20 agents", spread_agent)):
            timings, total = await measure(db, agent_id, args.calls)
            p50 = statistics.median(timings)
            verdict = "PASS" if p50 <= TARGET_MS else "FAIL"
            line = (
                f"| 30 daily buckets, {label} ({total:,} conversations counted) | "
                f"{p50:.1f} ms | ≤ {TARGET_MS:.0f} ms | **{verdict}** |"
            )
            print(line, f"(min {min(timings):.1f}, max {max(timings):.1f}, n={len(timings)})")
            lines.append(line)
    finally:
        await db.dispose()
    if args.results:
        with args.results.open("a") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
