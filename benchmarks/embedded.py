"""The embedded default's hot paths (issue 16), measured in one run against one `callplane serve`.

`python -m benchmarks.embedded` runs on a fresh SQLite file under a temp dir (the `make run`
default); `--database-url postgresql+asyncpg://…/callplane_bench_embedded` runs the very same
measurements on PostgreSQL, so the two dialects are compared on the same data and load:

- detail ÷ `/health` throughput at 32 connections, and at 1 connection (ms per request);
- list p50 at 1 and at 32 connections, unfiltered and name-filtered (rare and common word), in an
  organization of 20,000 agents beside one of 1,000;
- server VmRSS after the run;
- idle CPU of the server (embedded workflow engine included) over `--idle-seconds`.

Nothing is written to RESULTS.md: the printed block is pasted there by hand with the findings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from benchmarks import database, fixtures, seed, wrk
from benchmarks.cpu import cpu_seconds
from benchmarks.run import code_version
from benchmarks.server import Server
from callplane.db import migrate
from callplane.models import Agent

SMALL_ORG, BIG_ORG, MAIN_ORG = "bench-small", "bench-big", "bench-main"
BIG_AGENTS, SMALL_AGENTS = 20_000, 1_000
LISTS = {
    "no filter": "",
    f"name={seed.RARE_WORD}": f"&name={seed.RARE_WORD}",
    f"name={seed.COMMON_WORD}": f"&name={seed.COMMON_WORD}",
}


def log(message: str) -> None:
    print(f"[embedded {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def seed_sqlite(url: str, counts: dict[uuid.UUID, int]) -> None:
    """The same kind of agents as seed.py's PostgreSQL INSERT … SELECT, made in Python."""
    rng = random.Random(20261128)
    now = datetime.now(UTC)
    sync_url = make_url(url).set(drivername="sqlite")
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            for organization_id, count in counts.items():
                step = timedelta(seconds=seed.SPAN_SECONDS / count)
                rows = []
                for i in range(1, count + 1):
                    created = now - timedelta(hours=1) - (count - i) * step - rng.random() * step
                    company = rng.choice(seed.COMPANIES)
                    department = rng.choice(seed.DEPARTMENTS)
                    edits = rng.randrange(4)
                    rows.append(
                        {
                            "id": uuid.UUID(
                                int=(int(created.timestamp() * 1000) << 80)
                                | (7 << 76)
                                | rng.getrandbits(76)
                            ),
                            "organization_id": organization_id,
                            "name": f"{company} {department} {rng.choice(seed.ROLES)}",
                            "description": f"Answers {department.lower()} calls for {company}."
                            if rng.random() < 0.7
                            else None,
                            "active": rng.random() < 0.9,
                            "is_demo": rng.random() < 0.02,
                            "metadata_": {
                                "team": rng.choice(seed.TEAMS),
                                "region": rng.choice(seed.REGIONS),
                                "tier": rng.choice(seed.TIERS),
                                "crm_id": f"crm-{i}",
                            },
                            "live_version_id": None,
                            "live_version": None,
                            "sip_enabled": False,
                            "sip_deployed_at": None,
                            "revision": 1 + edits,
                            "created_at": created,
                            "updated_at": created + (now - created) * rng.random()
                            if edits
                            else created,
                        }
                    )
                connection.execute(insert(Agent), rows)
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


@dataclass
class Results:
    database: str
    code: str = field(default_factory=code_version)  # when the server starts, not at the end
    health_rps_32: list[float] = field(default_factory=list)
    detail_rps_32: list[float] = field(default_factory=list)
    detail_p50_32: list[float] = field(default_factory=list)
    health_rps_1: list[float] = field(default_factory=list)
    detail_rps_1: list[float] = field(default_factory=list)
    lists: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> figure -> ms
    idle_cpu_percent: float = 0.0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    hwm_mb: float = 0.0

    def ratio(self, health: list[float], detail: list[float]) -> float:
        return statistics.median(d / h for h, d in zip(health, detail, strict=True))


def _wrk(url: str, org: database.Org, seconds: float, connections: int) -> wrk.WrkResult:
    return wrk.run(
        url, headers=org.headers, seconds=seconds, threads=1, connections=connections, latency=True
    )


def measure(
    server: Server,
    org: database.Org,
    small: database.Org,
    big: database.Org,
    agent_id: str,
    results: Results,
    seconds: float,
    pairs: int,
) -> None:
    health, detail = f"{server.base_url}/health", f"{server.base_url}/core/agents/{agent_id}"
    for url in (health, detail):
        _wrk(url, org, 2, 32)
    for pair in range(pairs):
        h = _wrk(health, org, seconds, 32)
        d = _wrk(detail, org, seconds, 32)
        results.health_rps_32.append(h.requests_per_second)
        results.detail_rps_32.append(d.requests_per_second)
        results.detail_p50_32.append(d.p50_ms)
        log(
            f"c32 pair {pair + 1}: health {h.requests_per_second:.0f} req/s, detail "
            f"{d.requests_per_second:.0f} req/s (p50 {d.p50_ms:.1f} ms)"
        )
        h = _wrk(health, org, seconds, 1)
        d = _wrk(detail, org, seconds, 1)
        results.health_rps_1.append(h.requests_per_second)
        results.detail_rps_1.append(d.requests_per_second)
        log(
            f"c1 pair {pair + 1}: health {h.requests_per_second:.0f} req/s, detail "
            f"{d.requests_per_second:.0f} req/s ({1000 / d.requests_per_second:.2f} ms each)"
        )
    for label, query in LISTS.items():
        url = f"{server.base_url}/core/agents?limit=20{query}"
        figures: dict[str, float] = {}
        for org_label, list_org in (("1k", small), ("20k", big)):
            _wrk(url, list_org, 1, 1)
            figures[f"c1 {org_label}"] = _wrk(url, list_org, seconds, 1).p50_ms
        figures["c32 20k"] = _wrk(url, big, seconds, 32).p50_ms
        results.lists[label] = figures
        log(f"list {label}: " + ", ".join(f"{k} p50 {v:.2f} ms" for k, v in figures.items()))


def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core the server used while nothing called it."""
    start, started = cpu_seconds(pid) or 0.0, time.monotonic()
    time.sleep(seconds)
    used, elapsed = (cpu_seconds(pid) or 0.0) - start, time.monotonic() - started
    return 100 * used / elapsed


def render(results: Results, args: argparse.Namespace, wall: float) -> str:
    lines = [
        f"- Database: {results.database}; {BIG_AGENTS:,} + {SMALL_AGENTS:,} agents; "
        f"{results.code}; {os.cpu_count()} cores; wall {wall:.0f} s",
        f"- Command: `{' '.join(['python -m benchmarks.embedded', *sys.argv[1:]])}`",
        "",
        "| figure | measured |",
        "|---|---|",
        f"| detail ÷ /health, 32 connections | "
        f"{results.ratio(results.health_rps_32, results.detail_rps_32):.3f}x "
        f"({statistics.median(results.detail_rps_32):,.0f} vs "
        f"{statistics.median(results.health_rps_32):,.0f} req/s; detail p50 "
        f"{statistics.median(results.detail_p50_32):.1f} ms) |",
        f"| detail ÷ /health, 1 connection | "
        f"{results.ratio(results.health_rps_1, results.detail_rps_1):.3f}x "
        f"({1000 / statistics.median(results.detail_rps_1):.2f} ms per detail, "
        f"{1000 / statistics.median(results.health_rps_1):.2f} ms per /health) |",
    ]
    for label, figures in results.lists.items():
        lines.append(
            f"| list p50, {label} | "
            + ", ".join(f"{key}: {value:.2f} ms" for key, value in figures.items())
            + " |"
        )
    lines += [
        f"| server VmRSS after start / after the run (peak) | {results.rss_start_mb:.1f} / "
        f"{results.rss_end_mb:.1f} MB ({results.hwm_mb:.1f} MB) |",
        f"| idle CPU over {args.idle_seconds:.0f} s | "
        f"{results.idle_cpu_percent:.2f}% of one core |",
    ]
    return "\n".join(lines) + "\n"


def _idle_only(url: str, seconds: float) -> int:
    env = {"CALLPLANE_ENV": "development", "CALLPLANE_RATE_LIMIT_REQUESTS": "0"}
    with Server(url, env=env) as server:
        time.sleep(3)
        percent = idle_cpu(server.pid, seconds)
        log(f"idle CPU over {seconds:.0f} s: {percent:.2f}% of one core")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedded")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp dir")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument(
        "--idle-only", action="store_true", help="only start a server and measure its idle CPU"
    )
    args = parser.parse_args(argv)
    wrk.require_wrk()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="callplane-embedded-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    try:
        if _is_sqlite(url):
            migrate.upgrade(url)
        else:
            asyncio.run(database.recreate(url))
            database.upgrade(url)
        if args.idle_only:
            return _idle_only(url, args.idle_seconds)
        small = asyncio.run(database.create_org(url, SMALL_ORG))
        big = asyncio.run(database.create_org(url, BIG_ORG))
        counts = {small.id: SMALL_AGENTS, big.id: BIG_AGENTS}
        log(f"seeding {SMALL_AGENTS:,} + {BIG_AGENTS:,} agents")
        if _is_sqlite(url):
            seed_sqlite(url, counts)
        else:
            asyncio.run(seed.seed_agents(database.asyncpg_dsn(url), counts))
        main_org = asyncio.run(database.create_org(url, MAIN_ORG))
        results = Results("SQLite" if _is_sqlite(url) else "PostgreSQL")
        # The embedded default as `make run` has it: development settings, no rate limiting
        # (production refuses SQLite); PostgreSQL is run with the same settings to compare.
        env = {"CALLPLANE_ENV": "development", "CALLPLANE_RATE_LIMIT_REQUESTS": "0"}
        with Server(url, env=env) as server:
            log(f"callplane serve pid {server.pid} on {server.base_url}")
            time.sleep(3)  # let startup work settle before the idle measurement
            results.idle_cpu_percent = idle_cpu(server.pid, args.idle_seconds)
            log(f"idle CPU {results.idle_cpu_percent:.2f}% of one core")
            results.rss_start_mb = server.memory_kib()["VmRSS"] * 1024 / 1e6
            with httpx.Client(
                base_url=server.base_url, headers=main_org.headers, timeout=60
            ) as client:
                built = fixtures.build(client, numbers=10)
            waited = asyncio.run(database.settle(url, main_org.id))
            log(f"the fixtures' background work (conversation analysis) done after {waited:.1f} s")
            measure(
                server,
                main_org,
                small,
                big,
                built.detail_agent_id,
                results,
                args.seconds,
                args.pairs,
            )
            memory = server.memory_kib()
            results.rss_end_mb = memory["VmRSS"] * 1024 / 1e6
            results.hwm_mb = memory["VmHWM"] * 1024 / 1e6
        print()
        print(render(results, args, time.monotonic() - started))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
