"""Name search at every selectivity (issue 15): before and after, in one run.

For search terms matching from ~0.01% to ~50% of an organization's agents (the seeded names of
`benchmarks.seed`), calls the quick route's `list_json(name=term, limit=20)` — the statements
`GET /core/agents?name=term` sends on PostgreSQL — on two databases holding the same rows:
`--database-url` migrated to head (this code, the name grams index) and `--before-url` at
`--before-revision` (the trigram index), answered by the repository and name search modules of
`--before-code` (a git revision, loaded from git; `--before-url` may be `--database-url` itself
when both revisions use the same schema). Calls alternate before/after, `--repeat` times each
after 3 warm-up calls; then every statement of one call is run again under EXPLAIN ANALYZE,
alternated the same way, and `--repeat` times more without EXPLAIN. Printed per term: the share
of names, SQL p50/p95 (planning + execution, server side), the server's CPU per call (the
backend's user + system time over those last calls, from /proc: PostgreSQL must run on this
machine), the call's p50 (wall, round trips included), the statements sent and the plan.
Target: SQL p95 <= 20 ms at every selectivity.

Usage: `python -m benchmarks.name_search --database-url URL [--before-url URL] [--seed AGENTS]`;
`--seed` first (re)creates `--database-url` with `AGENTS` agents in `bench-big` and 1,000 in
`bench-small` and makes `--before-url` a copy of it downgraded to `--before-revision`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
from alembic import command

from benchmarks import database as bench_database
from benchmarks import seed
from benchmarks.diagnostics import Plan
from callplane.agents import repository
from callplane.db import dialect, migrate
from callplane.db.engine import Database, create_engine

# Terms of the seeded names ("<Company> <Department> <Role>"), rarest first (shares at 1M).
TERMS = [
    "larkspur billing agent",  # ~0.012%
    "larkspur billing",  # ~0.05%
    "cedar c",  # ~0.1%
    "billing scheduler",  # ~0.26%
    "l a",  # ~0.3%: a rare term across the walk's threshold (0.5%)
    "d a",  # ~0.6%
    "larkspur",  # ~1%
    "ing s",  # ~1.2%
    "billing",  # ~5%
    "scheduling",  # ~5% (another department)
    " agent",  # ~25%
    "assistant",  # ~40%
    "an",  # ~47%
    "ing ",  # departments ending in -ing: ~21%
    "zq",  # no name: shorter than a gram, every agent of the organization once read
    "j",  # ~1%: one character
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


async def _copy(url: str, before_url: str, revision: str) -> None:
    """`before_url`: a copy of `url` (same rows, same pages), downgraded to `revision`."""
    name, copy = bench_database.database_name(url), bench_database.database_name(before_url)
    if "bench" not in copy:
        raise SystemExit(f"refusing to drop {copy!r}: a bench database's name contains 'bench'")
    connection = await asyncpg.connect(bench_database.asyncpg_dsn(url, "postgres"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    finally:
        await connection.close()
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(before_url), revision)
    connection = await asyncpg.connect(bench_database.asyncpg_dsn(before_url))
    try:
        await connection.execute("VACUUM (ANALYZE) agents")
    finally:
        await connection.close()


def _module_at(revision: str, path: str, name: str) -> ModuleType:
    """The module at `path` as it was at `revision` (read with git), loaded as `name`."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    ).stdout
    file = Path(tempfile.mkdtemp(prefix="name-search-")) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _list_json_at(revision: str) -> Callable[..., Any]:
    """`callplane.agents.repository.list_json` as it was at `revision`, choosing its grams and
    walk with that revision's `callplane.agents.name_search` (and its own statistics cache)."""
    repository_before = _module_at(
        revision, "src/callplane/agents/repository.py", "repository_before"
    )
    choice_for = getattr(repository_before, "choice_for", None)
    if choice_for is not None:  # revisions before the name grams index have none
        name_search_before = _module_at(
            revision, "src/callplane/agents/name_search.py", "name_search_before"
        )
        repository_before.choice_for = name_search_before.choice_for  # type: ignore[attr-defined]
    return repository_before.list_json  # type: ignore[no-any-return]


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


class Side:
    """One database and the `list_json` that answers on it; records the statements it sends."""

    def __init__(self, label: str, url: str, list_json: Callable[..., Any]) -> None:
        self.label, self.url, self.list_json = label, url, list_json
        self.database = Database(create_engine(url, pool_size=2))
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.organization_id: Any = None

    async def call(self, term: str) -> tuple[float, int]:
        self.sent.clear()
        started = time.perf_counter()
        rows, _ = await self.list_json(
            self.database,
            self.organization_id,
            name=term,
            active=None,
            is_demo=None,
            limit=20,
            cursor=None,
        )
        return (time.perf_counter() - started) * 1000, len(rows)


async def _explain(
    connection: asyncpg.Connection, sent: list[tuple[str, tuple[Any, ...]]]
) -> tuple[float, str]:
    """Planning + execution ms of the statements, and the plan nodes of the last (the page)."""
    total, nodes = 0.0, ""
    for sql, args in sent:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE) {sql}", *args)
        plan = Plan(0, 0, "\n".join(row[0] for row in rows))
        for line in plan.text.splitlines():
            if line.startswith(("Planning Time", "Execution Time")):
                total += float(line.split(":")[1].split()[0])
        nodes = plan.nodes
    return total, nodes


def _cpu_ms(pid: int) -> float:
    """CPU time (user + system) of a local PostgreSQL backend so far, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def _backend_cpu(
    connection: asyncpg.Connection, sent: list[tuple[str, tuple[Any, ...]]], repeat: int
) -> float:
    """The backend's CPU ms per call for the statements of one call, over `repeat` calls: what
    the search costs the server whatever else the machine's cores are busy with."""
    pid = connection.get_server_pid()
    started = _cpu_ms(pid)
    for _ in range(repeat):
        for sql, args in sent:
            await connection.fetch(sql, *args)
    return (_cpu_ms(pid) - started) / repeat


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def sweep(sides: list[Side], organization: str, repeat: int) -> list[str]:
    recorder: list[Side] = []
    fetch = dialect.fetch

    async def recording(database: Database, sql: str, *args: Any) -> list[Any]:
        recorder[0].sent.append((sql, args))
        return await fetch(database, sql, *args)

    dialect.fetch = recording
    labels = " | ".join(
        f"{side.label} SQL p50 / p95 ms | {side.label} server CPU ms per call | "
        f"{side.label} call p50 ms | {side.label} statements"
        for side in sides
    )
    lines = [
        f"| term | share of names | {labels} | plan of the last page statement (after) | result |",
        "|---|---|" + "---|---|---|---|" * len(sides) + "---|---|",
    ]
    try:
        connections = {}
        for side in sides:
            connection = await asyncpg.connect(bench_database.asyncpg_dsn(side.url))
            side.organization_id = await connection.fetchval(
                "SELECT id FROM organizations WHERE name = $1", organization
            )
            if side.organization_id is None:
                raise SystemExit(f"no organization {organization!r} in {side.url}")
            connections[side.label] = connection
        dsn = bench_database.asyncpg_dsn(sides[-1].url)
        for term in TERMS:
            share = await _share(dsn, sides[-1].organization_id, term)
            calls: dict[str, list[float]] = {side.label: [] for side in sides}
            sql: dict[str, list[float]] = {side.label: [] for side in sides}
            sent: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
            nodes = ""
            for round_ in range(repeat + 3):
                for side in sides:
                    recorder[:] = [side]
                    elapsed, _ = await side.call(term)
                    if round_ >= 3:
                        calls[side.label].append(elapsed)
                    sent[side.label] = list(side.sent)
            for _ in range(repeat):
                for side in sides:
                    total, nodes = await _explain(connections[side.label], sent[side.label])
                    sql[side.label].append(total)
            cpu = {
                side.label: await _backend_cpu(connections[side.label], sent[side.label], repeat)
                for side in sides
            }
            cells = " | ".join(
                f"{statistics.median(sql[s.label]):.2f} / {_p95(sql[s.label]):.2f} | "
                f"{cpu[s.label]:.2f} | {statistics.median(calls[s.label]):.2f} | "
                f"{len(sent[s.label])}"
                for s in sides
            )
            verdict = "PASS" if _p95(sql[sides[-1].label]) <= TARGET_MS else "MISS"
            lines.append(f"| `{term}` | {share:.4%} | {cells} | `{nodes}` | {verdict} |")
            print(lines[-1], flush=True)
        for connection in connections.values():
            await connection.close()
    finally:
        dialect.fetch = fetch
        for side in sides:
            await side.database.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.name_search")
    parser.add_argument("--database-url", required=True, help="migrated to head: this code")
    parser.add_argument("--before-url", help="the same rows at --before-revision")
    parser.add_argument("--before-revision", default="0018")
    parser.add_argument("--before-code", default="main", help="git revision of the 'before' code")
    parser.add_argument("--organization", default="bench-big")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--seed", type=int, metavar="AGENTS", help="(re)create the database with this many agents"
    )
    args = parser.parse_args()
    if args.seed:
        asyncio.run(_seed(args.database_url, args.organization, args.seed))
        if args.before_url:
            asyncio.run(_copy(args.database_url, args.before_url, args.before_revision))
    sides = []
    if args.before_url:
        sides.append(Side("before", args.before_url, _list_json_at(args.before_code)))
    sides.append(Side("after", args.database_url, repository.list_json))
    lines = asyncio.run(sweep(sides, args.organization, args.repeat))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
