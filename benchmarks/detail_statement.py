"""The PostgreSQL agent detail statement alone: backend CPU per statement, this tree's
`AGENT_DETAIL_SQL` against another revision's, interleaved on one connection.

Throughput ratios over HTTP drown in the noise of a shared 2-core machine; the CPU a backend
spends per statement does not depend on what else runs. Needs a bench database seeded and
migrated by this tree (`python -m benchmarks.hotpaths` once) whose schema the base revision's
statement can still read. The agent measured is the one with the most conversations.

Usage: `python -m benchmarks.detail_statement --database-url URL [--base main] [--rounds 6]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
from typing import Any

import asyncpg
import orjson

from benchmarks import database
from benchmarks.cpu import cpu_seconds
from callplane.agents.detail_sql import AGENT_DETAIL_SQL

CALLS = 2_000


def base_statement(revision: str) -> str:
    """`AGENT_DETAIL_SQL` as `revision` wrote it (its module run on its own: it imports only
    `callplane.db`, whose names the statement does not use)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/callplane/agents/detail_sql.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    namespace: dict[str, Any] = {"__name__": "base_detail_sql"}
    exec(compile(source, f"{revision}:detail_sql.py", "exec"), namespace)
    return str(namespace["AGENT_DETAIL_SQL"])


async def measure(dsn: str, statements: dict[str, str], rounds: int) -> dict[str, list[float]]:
    connection = await asyncpg.connect(dsn)
    try:
        pid = connection.get_server_pid()
        agent, org = await connection.fetchrow(
            "SELECT agent_id, organization_id FROM agent_conversation_stats "
            "GROUP BY agent_id, organization_id ORDER BY sum(conversations) DESC LIMIT 1"
        )
        prepared = {name: await connection.prepare(sql) for name, sql in statements.items()}
        documents = [
            orjson.loads((await p.fetchrow(agent, org, "sip.bench"))[0]) for p in prepared.values()
        ]
        if any(document != documents[0] for document in documents):
            raise SystemExit("the statements' documents differ")
        spent: dict[str, list[float]] = {name: [] for name in statements}
        for _ in range(rounds):
            for name, statement in prepared.items():
                before = cpu_seconds(pid) or 0.0
                for _ in range(CALLS):
                    await statement.fetchrow(agent, org, "sip.bench")
                spent[name].append(((cpu_seconds(pid) or 0.0) - before) / CALLS * 1e6)
        return spent
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detail_statement")
    parser.add_argument("--database-url", default=os.environ.get("CALLPLANE_BENCH_DATABASE_URL"))
    parser.add_argument("--base", default="main", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    if not args.database_url:
        raise SystemExit("--database-url (a seeded bench database) is required")
    statements = {f"base ({args.base})": base_statement(args.base), "this tree": AGENT_DETAIL_SQL}
    spent = asyncio.run(measure(database.asyncpg_dsn(args.database_url), statements, args.rounds))
    medians = {name: statistics.median(values) for name, values in spent.items()}
    for name, values in spent.items():
        rounded = ", ".join(f"{v:.0f}" for v in values)
        print(f"- {name}: backend CPU {medians[name]:.0f} µs per statement (rounds: {rounded})")
    base, new = medians.values()
    print(f"- this tree ÷ base: {new / base:.2f}; load: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
