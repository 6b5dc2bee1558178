"""Conversation analytics at 1M conversations on PostgreSQL (`python -m benchmarks.analytics`).

Target (issue 12): p50 ≤ 100 ms for 30 daily buckets over 1,000,000 conversations. The rows are
bulk-inserted by PostgreSQL itself (`INSERT … SELECT … FROM generate_series`) into a database
of their own (`callplane_bench_analytics`, recreated unless `--skip-seed`), migrated up to the
revision before the rollups; then the rollups migration runs, so the rollups are filled by its
backfill (the same statements as on any upgraded installation), and its time is printed.
Shapes measured:

- `all in range`: one agent whose 1,000,000 conversations all fall in the 30 days asked for
  (every row is counted and ranked: the worst case), with a range on whole days (daily rollups
  only) and one starting and ending mid-hour (raw rows at the edges, hourly rollups, daily);
- `one of 20 agents`: the same table, the query for one agent over 30 days of a year in which
  20 agents share another 1,000,000 conversations (what a dashboard usually asks), and the
  whole organization (no agent) over the same 30 days.

The figure is the p50 of `AnalyticsService.conversations` (the endpoint's work: its SQL
statements, the layout and the answer's JSON, without HTTP) over repeated calls after a
warm-up. Also printed: the write cost of the triggers (10,000 conversations inserted with
and without them, rolled back).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson

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


def _before_rollups() -> str:
    """The revision the rollups migration upgrades from (found by what it defines, so that
    renumbering the migrations does not break this)."""
    from alembic.script import ScriptDirectory

    from callplane.db import migrate

    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    for revision in scripts.walk_revisions():
        if hasattr(revision.module, "backfill_statements"):
            down = revision.down_revision
            assert isinstance(down, str)
            return down
    raise RuntimeError("no rollups migration")


async def seed(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two organizations of 1M conversations each: (org, agent) of the first and the
    agent asked about in the second."""
    await database.recreate(url)
    await asyncio.to_thread(migrate_to, url, _before_rollups())
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
        org_of = {"dense": dense.id, "spread": spread.id}
        with_ids = await connection.fetchrow(
            "SELECT agent_id FROM conversations WHERE organization_id = $1 LIMIT 1", spread.id
        )
    finally:
        await connection.close()
    started = time.perf_counter()
    await asyncio.to_thread(database.upgrade, url)
    print(
        f"rollups migration (index + backfill of {2 * ROWS:,} rows): "
        f"{time.perf_counter() - started:.0f} s"
    )
    connection = await asyncpg.connect(database.asyncpg_dsn(url))
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return org_of["dense"], agent, with_ids["agent_id"]


async def settle(url: str) -> None:
    """VACUUM the rollups before measuring, as autovacuum does for the days no longer written
    (their pages all-visible: index-only scans need no heap). Rows updated since the last
    vacuum (today's, the current hour's) cost a heap fetch each: a few thousand at most."""
    connection = await asyncpg.connect(database.asyncpg_dsn(url))
    try:
        await connection.execute("VACUUM ANALYZE conversation_rollups")
        await connection.execute("VACUUM ANALYZE conversation_duration_rollups")
    finally:
        await connection.close()


def migrate_to(url: str, revision: str) -> None:
    from callplane.db import migrate

    migrate.upgrade(url, revision)


async def write_cost(url: str, organization_id: uuid.UUID) -> str:
    """Inserting 10,000 conversations with the rollup triggers and without them (each in a
    transaction rolled back): what the triggers add per conversation written."""
    connection = await asyncpg.connect(database.asyncpg_dsn(url))
    rows = 10_000
    timings = {}
    try:
        for label, disable in (("with triggers", False), ("without", True)):
            transaction = connection.transaction()
            await transaction.start()
            # an agent of its own: the measured agents' rollup rows stay untouched
            agent_id, versions = await _agent(connection, organization_id, 3)
            if disable:
                await connection.execute("ALTER TABLE conversations DISABLE TRIGGER USER")
            started = time.perf_counter()
            await connection.execute(
                _INSERT, organization_id, [agent_id], versions, END, timedelta(days=30), rows
            )
            timings[label] = (time.perf_counter() - started) * 1e6 / rows
            await transaction.rollback()
    finally:
        await connection.close()
    return (
        f"insert {rows:,} conversations: {timings['with triggers']:.0f} µs/row with the rollup"
        f" triggers, {timings['without']:.0f} µs/row without"
    )


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


async def _organization_of_agent(url: str, agent_id: uuid.UUID) -> uuid.UUID:
    connection = await asyncpg.connect(database.asyncpg_dsn(url))
    try:
        organization_id: uuid.UUID = await connection.fetchval(
            "SELECT organization_id FROM agents WHERE id = $1", agent_id
        )
    finally:
        await connection.close()
    return organization_id


async def measure(
    db: Database,
    organization_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    calls: int,
) -> tuple[list[float], list[float], int]:
    """Wall and process CPU milliseconds per call (after 3 warm-ups), and the rows counted."""
    timings: list[float] = []
    cpu: list[float] = []
    total = 0
    for attempt in range(calls + 3):
        started, started_cpu = time.perf_counter(), time.process_time()
        async with db.session(write=False) as session:
            result = await AnalyticsService(session, organization_id).conversations(
                agent_id=agent_id, version_id=None, start=start, end=end, interval="day"
            )
        elapsed = (time.perf_counter() - started) * 1000
        if attempt >= 3:  # warm-up
            timings.append(elapsed)
            cpu.append((time.process_time() - started_cpu) * 1000)
        buckets = orjson.loads(result)["buckets"]
        total = sum(bucket["total"] for bucket in buckets)
        assert len(buckets) in (30, 31)
    return timings, cpu, total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--results", type=Path, default=None, help="append a section here")
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="skip the triggers' write cost (A/B runs of the reads, interleaved)",
    )
    args = parser.parse_args()
    if args.skip_seed and await database.exists(args.database_url):
        _, dense_agent, spread_agent = await existing(args.database_url)
    else:
        _, dense_agent, spread_agent = await seed(args.database_url)
    dense_org = await _organization_of_agent(args.database_url, dense_agent)
    spread_org = await _organization_of_agent(args.database_url, spread_agent)
    await settle(args.database_url)
    db = Database(create_engine(args.database_url, pool_size=2))
    lines = []
    month = (END - timedelta(days=30), END)
    mid_hour = (END - timedelta(days=30, minutes=-17, seconds=-5), END - timedelta(minutes=43))
    cases = (
        ("all in range, whole days", dense_org, dense_agent, month),
        ("all in range, from/to mid-hour", dense_org, dense_agent, mid_hour),
        ("one of 20 agents", spread_org, spread_agent, month),
        ("the whole org of 20 agents", spread_org, None, month),
    )
    try:
        for label, org, agent_id, (start, end) in cases:
            timings, cpu, total = await measure(db, org, agent_id, start, end, args.calls)
            p50 = statistics.median(timings)
            verdict = "PASS" if p50 <= TARGET_MS else "FAIL"
            line = (
                f"| 30 daily buckets, {label} ({total:,} conversations counted) | "
                f"{p50:.1f} ms | {statistics.median(cpu):.1f} ms | ≤ {TARGET_MS:.0f} ms |"
                f" **{verdict}** |"
            )
            print(line, f"(min {min(timings):.1f}, max {max(timings):.1f}, n={len(timings)})")
            lines.append(line)
    finally:
        await db.dispose()
    if not args.reads_only:
        lines.append(await write_cost(args.database_url, dense_org))
        print(lines[-1])
    print("load average:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    if args.results:
        with args.results.open("a") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
