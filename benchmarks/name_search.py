"""Name search at every selectivity (issue 15): the repository's list call, timed from Python.

For search terms matching from ~0.01% to ~50% of an organization's agents (the seeded names of
`benchmarks.seed`), times `AgentRepository.list(name=term, limit=20)` — every statement it sends,
round trips included — `--repeat` times warm, and prints p50/p95 per term with the plan of the
last statement. Target: p95 ≤ 20 ms at every selectivity.

Usage: `python -m benchmarks.name_search --database-url URL [--seed AGENTS]`; `--seed` first
(re)creates the database with `AGENTS` agents in `bench-big` and 1,000 in `bench-small`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import event, select

from benchmarks import database as bench_database
from benchmarks import seed
from benchmarks.diagnostics import Plan
from callplane.agents.repository import ROW_FIELDS, AgentRepository
from callplane.db.engine import Database, create_engine
from callplane.kit.filters import TimeFilters
from callplane.kit.pagination import paginate
from callplane.models import Agent, Organization

# Terms of the seeded names ("<Company> <Department> <Role>"), rarest first.
TERMS = [
    "larkspur billing agent",  # ~0.0125%
    "larkspur billing",  # ~0.05%
    "billing scheduler",  # ~0.25%
    "larkspur",  # ~1%
    "billing",  # ~5%
    "scheduling",  # ~5% (another department)
    " agent",  # ~25%
    "assistant",  # ~40%
    "ing ",  # departments ending in -ing: ~50%
]
TARGET_MS = 20.0
SMALL_AGENTS = 1_000


async def _seed(url: str, organization: str, agents: int) -> None:
    """A fresh database: migrations, `organization` with `agents` agents and `bench-small`."""
    await bench_database.recreate(url)
    await asyncio.to_thread(bench_database.upgrade, url)
    small = await bench_database.create_org(url, "bench-small")
    big = await bench_database.create_org(url, organization)
    timing = await seed.seed_agents(
        bench_database.asyncpg_dsn(url), {small.id: SMALL_AGENTS, big.id: agents}
    )
    print(
        f"seeded {agents:,} + {SMALL_AGENTS:,} agents: insert {timing.insert_seconds:.1f}s, "
        f"indexes {timing.index_seconds:.1f}s, vacuum+analyze {timing.analyze_seconds:.1f}s",
        flush=True,
    )


async def _share(dsn: str, organization_id: Any, term: str) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        value = await connection.fetchval(
            "SELECT (count(*) FILTER (WHERE name ILIKE '%' || $2 || '%'))::float8 "
            "/ greatest(count(*), 1) FROM agents WHERE organization_id = $1",
            organization_id,
            term,
        )
    finally:
        await connection.close()
    return float(value)


async def _explained(
    db: Database, statements: list[tuple[str, Any]], repeat: int
) -> tuple[list[float], str]:
    """Planning + execution ms (EXPLAIN ANALYZE, server side) of all the statements of one
    call, `repeat` times, sorted; and the plan nodes of the last statement (the page)."""
    totals = []
    nodes = ""
    async with db.session(write=False) as session, session.begin():
        connection = await session.connection()
        for _ in range(repeat):
            total = 0.0
            for statement, parameters in statements:
                if statement.startswith(("SET", "RESET")):
                    await connection.exec_driver_sql(statement, parameters)
                    continue
                result = await connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE) {statement}", parameters
                )
                plan = Plan(0, 0, "\n".join(str(row[0]) for row in result))
                for line in plan.text.splitlines():
                    if line.startswith(("Planning Time", "Execution Time")):
                        total += float(line.split(":")[1].split()[0])
                nodes = plan.nodes
            totals.append(total)
    return sorted(totals), nodes


async def sweep(url: str, organization: str, repeat: int) -> list[str]:
    db = Database(create_engine(url, pool_size=2))
    statements: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        statements.append((args[2], args[3]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    lines = [
        "| term | share of names | rows | SQL p50 ms | SQL p95 ms | call p50 ms | statements "
        "| plan of the page's statement | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    try:
        async with db.session(write=False) as session:
            organization_id = await session.scalar(
                select(Organization.id).where(Organization.name == organization)
            )
        if organization_id is None:
            raise SystemExit(f"no organization {organization!r}")
        dsn = bench_database.asyncpg_dsn(url)
        for term in TERMS:
            share = await _share(dsn, organization_id, term)
            timings = []
            rows: list[Any] = []
            for _ in range(repeat + 3):
                statements.clear()
                async with db.session(write=False) as session:
                    started = time.perf_counter()
                    rows, _ = await AgentRepository(session, organization_id).list(
                        name=term,
                        active=None,
                        is_demo=None,
                        metadata=None,
                        times=TimeFilters(),
                        limit=20,
                        cursor=None,
                    )
                    timings.append((time.perf_counter() - started) * 1000)
            timings = sorted(timings[3:])
            sent = [pair for pair in statements if not pair[0].startswith(("SET", "RESET"))]
            count = len(sent)
            sql, plan = await _explained(db, list(statements), repeat)
            p95 = sql[max(0, int(len(sql) * 0.95) - 1)]
            lines.append(
                f"| `{term}` | {share:.4%} | {len(rows)} | {statistics.median(sql):.2f} | "
                f"{p95:.2f} | {statistics.median(timings):.2f} | {count} | `{plan}` | "
                f"{'PASS' if p95 <= TARGET_MS else 'MISS'} |"
            )
            print(lines[-1], flush=True)
    finally:
        await db.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.name_search")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--organization", default="bench-big")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--seed", type=int, metavar="AGENTS", help="(re)create the database with this many agents"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="measure the single ILIKE statement used before issue 15 (the planner's choice)",
    )
    args = parser.parse_args()
    if args.seed:
        asyncio.run(_seed(args.database_url, args.organization, args.seed))
    if args.plain:

        async def plain(
            self: AgentRepository, statement: Any, pattern: str, *, limit: int, cursor: Any
        ) -> Any:
            narrowed = statement.where(Agent.name.ilike(pattern, escape="\\"))
            return await paginate(
                self.session,
                narrowed.with_only_columns(*(getattr(Agent, f) for f in ROW_FIELDS)),
                (Agent.created_at, Agent.id),
                (datetime, uuid.UUID),
                limit=limit,
                cursor=cursor,
                rows=True,
            )

        AgentRepository._name_search = plain  # type: ignore[method-assign,assignment]
    lines = asyncio.run(sweep(args.database_url, args.organization, args.repeat))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
