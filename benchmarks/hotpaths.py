"""Issue 15's figures in one run: the project against the floor (`benchmarks/floor.py`).

One `callplane serve` process and one floor process (both one uvicorn process, same settings)
serve the same bench database; `wrk -t1 -c32` loads them alternately. Measured:

1. throughput of `GET /core/agents/{id}` ÷ the floor's same route, and ÷ the project's `/health`;
2. list page (limit 20) p50 at 32 connections, and the server's CPU per list page ÷ per detail;
3. p50 of name searches (`name=`) at one connection, against the unfiltered page;
4. p50 of publishing one version to 100 phone numbers;
5. the server's RSS after the run.

Usage: `python -m benchmarks.hotpaths [--skip-seed] [--agents 100000] [--label TEXT]`.
Prints a Markdown block (paste it into RESULTS.md under your own section).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import quote

import httpx

from benchmarks import database, fixtures, run, wrk
from benchmarks.cpu import CpuMeter
from benchmarks.server import Server, free_port

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_hotpaths"
CONNECTIONS = 32
NAME_SEARCHES = ["larkspur", "billing", "assistant"]  # ~1%, ~5%, ~40% of names


class Floor:
    """`python -m benchmarks.floor` as a subprocess."""

    def __init__(self, database_url: str, pool_size: int):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable,
            "-m",
            "benchmarks.floor",
            "--database-url",
            database_url,
            "--port",
            str(self.port),
            "--pool-size",
            str(pool_size),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Floor:
        self.process = subprocess.Popen(self.command, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the floor app did not start")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _load(
    url: str, headers: dict[str, str], seconds: float, meter: CpuMeter
) -> tuple[float, float]:
    """Requests per second and the measured process's CPU µs per request under wrk -c32."""
    with meter:
        result = wrk.run(url, headers=headers, seconds=seconds, threads=1, connections=CONNECTIONS)
    return result.requests_per_second, meter.server * 1e6 / max(1, result.requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpaths")
    parser.add_argument("--database-url", default=os.environ.get("CALLPLANE_BENCH_DATABASE_URL"))
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--publishes", type=int, default=30)
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=20,
        help="the server's CALLPLANE_DATABASE_POOL_SIZE; the floor may open as many connections "
        "as the server can (pool + overflow)",
    )
    args = parser.parse_args(argv)
    wrk.require_wrk()
    url = args.database_url or DEFAULT_URL
    profile = run.Profile(
        "hotpaths", args.agents, 1_000, 2, args.seconds, args.rounds, 3, 1, args.publishes, 3
    )
    started = time.monotonic()
    date = run._shell("date", "-u")
    bench = run.Run(profile, url)
    _small, big = run.prepare(bench, args.skip_seed)
    asyncio.run(database.delete_orgs(url, run.MAIN_ORG))
    main_org = asyncio.run(database.create_org(url, run.MAIN_ORG))
    dsn = database.asyncpg_dsn(url)
    lines: list[str] = []

    def note(line: str) -> None:
        run.log(line)
        lines.append(line)

    pool_env = {"CALLPLANE_DATABASE_POOL_SIZE": str(args.pool_size)}
    floor_pool = args.pool_size + args.pool_size // 2
    with Server(url, env=pool_env) as server, Floor(url, pool_size=floor_pool) as floor:
        with httpx.Client(base_url=server.base_url, headers=main_org.headers, timeout=60) as client:
            built = fixtures.build(client)
        waited = asyncio.run(database.settle(url, main_org.id))
        run.log(f"the fixtures' background work (conversation analysis) done after {waited:.1f} s")
        agent = built.detail_agent_id
        project_detail = f"{server.base_url}/core/agents/{agent}"
        floor_detail = f"{floor.base_url}/core/agents/{agent}"
        a = httpx.get(project_detail, headers=main_org.headers).json()
        b = httpx.get(floor_detail, headers=main_org.headers).json()
        if a != b:
            raise RuntimeError("the floor's document differs from the project's")
        server_meter = CpuMeter(server.pid, dsn)
        floor_meter = CpuMeter(floor.pid, dsn)
        health = f"{server.base_url}/health"
        for target in (health, project_detail, floor_detail):
            wrk.run(target, headers=main_org.headers, seconds=2, connections=CONNECTIONS)
        ratios_floor, ratios_health, detail_cpu = [], [], []
        for i in range(args.rounds):
            h, h_cpu = _load(health, main_org.headers, args.seconds, server_meter)
            d, d_cpu = _load(project_detail, main_org.headers, args.seconds, server_meter)
            f, f_cpu = _load(floor_detail, main_org.headers, args.seconds, floor_meter)
            ratios_floor.append(d / f)
            ratios_health.append(d / h)
            detail_cpu.append(d_cpu)
            note(
                f"round {i + 1}: /health {h:,.0f} req/s ({h_cpu:.0f} µs CPU/req), detail "
                f"{d:,.0f} req/s ({d_cpu:.0f} µs), floor {f:,.0f} req/s ({f_cpu:.0f} µs): "
                f"detail÷floor {d / f:.2f}, detail÷health {d / h:.2f}"
            )
        list_url = f"{server.base_url}/core/agents?limit=20"
        wrk.run(list_url, headers=big.headers, seconds=2, connections=CONNECTIONS)
        with server_meter:
            listed = wrk.run(
                list_url,
                headers=big.headers,
                seconds=args.seconds,
                connections=CONNECTIONS,
                latency=True,
            )
        list_cpu = server_meter.server * 1e6 / max(1, listed.requests)
        note(
            f"list limit 20 ({args.agents:,} agents) at {CONNECTIONS} connections: p50 "
            f"{listed.p50_ms:.1f} ms, {listed.requests_per_second:,.0f} req/s, server CPU "
            f"{list_cpu:.0f} µs/page = {list_cpu / statistics.median(detail_cpu):.2f}x detail's"
        )
        plain = wrk.run(list_url, headers=big.headers, seconds=3, latency=True)
        note(f"list limit 20, one connection: p50 {plain.p50_ms:.2f} ms")
        for word in NAME_SEARCHES:
            searched = wrk.run(
                f"{list_url}&name={quote(word)}", headers=big.headers, seconds=3, latency=True
            )
            share = asyncio.run(_share(dsn, big.id, word))
            note(
                f"list name={word} ({share:.2%} of names), one connection: p50 "
                f"{searched.p50_ms:.2f} ms"
            )
        run.measure_publish(bench, server.base_url, main_org, built)
        publish = sorted(bench.publish_ms)
        note(
            f"publish one version to 100 numbers: p50 {statistics.median(publish):.1f} ms "
            f"(min {publish[0]:.1f}, max {publish[-1]:.1f}, {len(publish)} calls)"
        )
        rss = server.memory_kib()["VmRSS"] * 1024 / 1e6
        note(f"server VmRSS after the run: {rss:.1f} MB")
    summary = (
        f"detail ÷ floor {statistics.median(ratios_floor):.2f}x (target ≥ 0.8x), detail ÷ "
        f"/health {statistics.median(ratios_health):.2f}x (target ≥ 0.45x)"
    )
    run.log(summary)
    print()
    print(f"- Date: {date}; cores: {os.cpu_count()}; load at end: {run._load()}")
    print(f"- Code: {run.code_version()}; command: `{' '.join(sys.argv)}`")
    if args.label:
        print(f"- {args.label}")
    print(f"- **{summary}**")
    for line in lines:
        print(f"- {line}")
    print(f"- wall time {time.monotonic() - started:.0f} s")
    return 0


async def _share(dsn: str, organization_id: object, word: str) -> float:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) FILTER (WHERE name ILIKE '%' || $2 || '%')::float8 "
            "/ greatest(count(*), 1) FROM agents WHERE organization_id = $1",
            organization_id,
            word,
        )
    finally:
        await connection.close()
    return float(row[0])


if __name__ == "__main__":
    sys.exit(main())
