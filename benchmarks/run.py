"""`make bench`: callplane's hot paths on PostgreSQL, as ratios measured in one run.

One `callplane serve` process (a subprocess of this script) serves a dedicated database; `wrk`
loads it from another process. Measured:

1. throughput of the agent detail document ÷ throughput of `GET /health` (same server, same wrk
   settings, alternated, median of the pairs' ratios);
2. p50 latency of an agent list page in an organization of 1,000,000 agents ÷ in one of 1,000,
   plain and with the `name` and `metadata` filters (wrk -t1 -c1 --latency, alternated);
3. p50 of publishing a version to 100 phone numbers (sequential httpx requests from here);
4. resident memory of the server process after all of it.

Usage: `python -m benchmarks.run [--skip-seed] [--quick] [--label TEXT]`; see `--help`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson
from sqlalchemy.engine import make_url

from benchmarks import database, diagnostics, fixtures, report, seed, wrk
from benchmarks.cpu import CpuMeter
from benchmarks.server import Server

RESULTS = Path(__file__).with_name("RESULTS.md")
SMALL_ORG, BIG_ORG, MAIN_ORG = "bench-small", "bench-big", "bench-main"
THROUGHPUT_TARGET = 0.40
PUBLISH_TARGET_MS = 50.0
MEMORY_TARGET_MB = 150.0


@dataclass(frozen=True)
class Profile:
    name: str
    big_agents: int
    small_agents: int
    warmup_seconds: float
    throughput_seconds: float
    throughput_pairs: int
    latency_seconds: float
    latency_rounds: int
    publishes: int
    publish_warmup: int


FULL = Profile("full", 1_000_000, 1_000, 3, 10, 3, 5, 3, 50, 5)
QUICK = Profile("quick", 20_000, 1_000, 1, 2, 1, 2, 1, 10, 2)


@dataclass(frozen=True)
class ListVariant:
    key: str
    label: str
    filters: dict[str, Any]  # as AgentRepository.list takes them
    target: float

    @property
    def query(self) -> str:
        """The filters as `GET /core/agents` query parameters."""
        params = {
            name: orjson.dumps(value).decode() if isinstance(value, dict) else value
            for name, value in self.filters.items()
        }
        return urlencode({"limit": 20, **params}, quote_via=quote)


LIST_VARIANTS = [
    ListVariant("plain", "no filter", {}, 1.5),
    ListVariant("rare_name", f"name={seed.RARE_WORD} (rare word)", {"name": seed.RARE_WORD}, 2.0),
    ListVariant(
        "common_name", f"name={seed.COMMON_WORD} (common word)", {"name": seed.COMMON_WORD}, 2.0
    ),
    ListVariant(
        "metadata",
        f"metadata={seed.METADATA_FILTER}",
        {"metadata": orjson.loads(seed.METADATA_FILTER)},
        2.0,
    ),
]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the machine ---------------------------------------------------------------------------------


def _shell(*command: str) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return completed.stdout.strip()


def _memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def code_version() -> str:
    """The commit measured, and whether the source tree differed from it (read-only git)."""
    root = Path(__file__).resolve().parent.parent
    commit = _shell("git", "-C", str(root), "rev-parse", "--short", "HEAD") or "unknown"
    changed = _shell(
        "git", "-C", str(root), "--no-optional-locks", "status", "--porcelain", "--", "src"
    )
    count = len(changed.splitlines())
    return f"commit {commit}" + (f" + {count} uncommitted changes under src/" if count else "")


def command_line() -> str:
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(Path.cwd()))
    except ValueError:
        shown = str(python)
    inner = shlex.join([shown, "-m", "benchmarks.run", *sys.argv[1:]])
    return f"make bench  →  {inner}" if "MAKELEVEL" in os.environ else inner


# --- measurements --------------------------------------------------------------------------------


@dataclass
class Run:
    profile: Profile
    database_url: str
    seed_timing: seed.SeedTiming | None = None
    shares: dict[str, seed.FilterShares] = field(default_factory=dict)
    detail_bytes: int = 0
    throughput_pairs: list[tuple[float, float]] = field(default_factory=list)
    # Per pair: CPU µs per request of (health: server, detail: server, detail: PostgreSQL).
    throughput_cpu_us: list[tuple[float, float, float]] = field(default_factory=list)
    list_rounds: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    list_rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    publish_ms: list[float] = field(default_factory=list)
    memory_start_kib: dict[str, int] = field(default_factory=dict)
    memory_end_kib: dict[str, int] = field(default_factory=dict)
    plans: dict[str, tuple[diagnostics.Plan, diagnostics.Plan]] = field(default_factory=dict)


def _throughput(url: str, headers: dict[str, str], seconds: float) -> wrk.WrkResult:
    """The throughput load: one wrk thread, 16 connections."""
    return wrk.run(url, headers=headers, seconds=seconds, threads=1, connections=16)


def _latency(url: str, headers: dict[str, str], seconds: float) -> wrk.WrkResult:
    """The latency probe: one connection, so each request is measured alone."""
    return wrk.run(url, headers=headers, seconds=seconds, threads=1, connections=1, latency=True)


def _get_json(url: str, headers: dict[str, str]) -> tuple[Any, int]:
    response = httpx.get(url, headers=headers, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:2000]}")
    return response.json(), len(response.content)


def _loaded(
    url: str, org: database.Org, seconds: float, meter: CpuMeter
) -> tuple[wrk.WrkResult, float, float]:
    """wrk on `url`, with the server's and PostgreSQL's CPU µs per request."""
    with meter:
        result = _throughput(url, org.headers, seconds)
    per_request = 1e6 / max(1, result.requests)
    return result, meter.server * per_request, meter.database * per_request


def measure_throughput(run: Run, server: Server, org: database.Org, agent_id: str) -> None:
    profile, base = run.profile, server.base_url
    health, detail = f"{base}/health", f"{base}/core/agents/{agent_id}"
    document, run.detail_bytes = _get_json(detail, org.headers)
    expected = {"versions": 5, "phone_numbers": 3, "widgets": 2}
    counts = {key: len(document[key]) for key in expected}
    if counts != expected or document["conversation_stats"]["total"] != 200:
        raise RuntimeError(f"the detail fixture is not as built: {counts}")
    for url in (health, detail):
        _throughput(url, org.headers, profile.warmup_seconds)
    meter = CpuMeter(server.pid, database.asyncpg_dsn(run.database_url))
    for pair in range(profile.throughput_pairs):
        h, h_server, _ = _loaded(health, org, profile.throughput_seconds, meter)
        d, d_server, d_database = _loaded(detail, org, profile.throughput_seconds, meter)
        run.throughput_pairs.append((h.requests_per_second, d.requests_per_second))
        run.throughput_cpu_us.append((h_server, d_server, d_database))
        log(
            f"throughput pair {pair + 1}: health {h.requests_per_second:.0f} req/s, "
            f"detail {d.requests_per_second:.0f} req/s (server {d_server:.0f} µs + "
            f"PostgreSQL {d_database:.0f} µs CPU per request)"
        )


def measure_lists(run: Run, base: str, small: database.Org, big: database.Org) -> None:
    profile = run.profile
    for variant in LIST_VARIANTS:
        url = f"{base}/core/agents?{variant.query}"
        small_page, _ = _get_json(url, small.headers)
        big_page, _ = _get_json(url, big.headers)
        run.list_rows[variant.key] = (len(small_page["data"]), len(big_page["data"]))
        for org in (small, big):
            _latency(url, org.headers, profile.warmup_seconds)
        rounds = run.list_rounds.setdefault(variant.key, [])
        for _ in range(profile.latency_rounds):
            s = _latency(url, small.headers, profile.latency_seconds)
            b = _latency(url, big.headers, profile.latency_seconds)
            rounds.append((s.p50_ms, b.p50_ms))
        log(
            f"list {variant.label}: p50 small "
            f"{statistics.median(r[0] for r in rounds):.2f} ms, big "
            f"{statistics.median(r[1] for r in rounds):.2f} ms"
        )


def measure_publish(run: Run, base: str, org: database.Org, built: fixtures.Fixtures) -> None:
    """Alternate between two published versions, so every call rewrites all 100 slots."""
    profile = run.profile
    body = orjson.dumps({"phone_numbers": built.publish_numbers})
    headers = {**org.headers, "Content-Type": "application/json"}
    version = 1 if built.live_publisher_version == 2 else 2
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for i in range(profile.publish_warmup + profile.publishes):
            url = f"/core/agents/{built.publisher_agent_id}/versions/{version}/publish"
            started = time.perf_counter()
            response = client.post(url, content=body)
            elapsed_ms = (time.perf_counter() - started) * 1000
            touched = response.json() if response.status_code == 200 else None
            if touched is None or len(touched) != len(built.publish_numbers):
                raise RuntimeError(f"publish answered {response.status_code}: {response.text}")
            if any(slot["inbound_version"] != version for slot in touched):
                raise RuntimeError("publish did not rewrite every slot")
            if i >= profile.publish_warmup:
                run.publish_ms.append(elapsed_ms)
            version = 3 - version
    log(f"publish to 100 numbers: p50 {statistics.median(run.publish_ms):.1f} ms")


# --- preparation ---------------------------------------------------------------------------------


def prepare(run: Run, skip_seed: bool) -> tuple[database.Org, database.Org]:
    url, profile = run.database_url, run.profile
    if not skip_seed:
        log(f"recreating {database.database_name(url)} and migrating")
        asyncio.run(database.recreate(url))
        database.upgrade(url)
        small = asyncio.run(database.create_org(url, SMALL_ORG))
        big = asyncio.run(database.create_org(url, BIG_ORG))
        log(f"seeding {profile.small_agents:,} + {profile.big_agents:,} agents in SQL")
        counts = {small.id: profile.small_agents, big.id: profile.big_agents}
        run.seed_timing = asyncio.run(seed.seed_agents(database.asyncpg_dsn(url), counts))
        log(
            f"seeded: insert {run.seed_timing.insert_seconds:.1f}s, indexes "
            f"{run.seed_timing.index_seconds:.1f}s, vacuum+analyze "
            f"{run.seed_timing.analyze_seconds:.1f}s"
        )
    else:
        if not asyncio.run(database.exists(url)):
            raise SystemExit(f"--skip-seed: {url} does not exist; run once without --skip-seed")
        database.upgrade(url)
        found_small = asyncio.run(database.existing_org(url, SMALL_ORG))
        found_big = asyncio.run(database.existing_org(url, BIG_ORG))
        if found_small is None or found_big is None:
            raise SystemExit("--skip-seed: the bench organizations are missing; seed again")
        small, big = found_small, found_big
        for org, wanted in ((small, profile.small_agents), (big, profile.big_agents)):
            have = asyncio.run(database.count_agents(url, org.id))
            if have != wanted:
                raise SystemExit(
                    f"--skip-seed: {org.name} has {have:,} agents, this profile wants "
                    f"{wanted:,}; run without --skip-seed"
                )
        log("reusing the seeded agents")
    dsn = database.asyncpg_dsn(url)
    run.shares = {
        SMALL_ORG: asyncio.run(seed.filter_shares(dsn, small.id)),
        BIG_ORG: asyncio.run(seed.filter_shares(dsn, big.id)),
    }
    return small, big


def explain_lists(run: Run, small: database.Org, big: database.Org) -> None:
    for variant in LIST_VARIANTS:
        plans = [
            asyncio.run(diagnostics.explain_agent_list(run.database_url, org.id, **variant.filters))
            for org in (small, big)
        ]
        run.plans[variant.key] = (plans[0], plans[1])


# --- figures and the report ----------------------------------------------------------------------


def _count(agents: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if agents >= size and agents % size == 0:
            return f"{agents // size}{suffix}"
    return f"{agents:,}"


def _median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(b / a for a, b in pairs)


def figures(run: Run) -> list[report.Figure]:
    result = [
        report.Figure(
            "GET /core/agents/{id} ÷ GET /health throughput",
            _median_ratio(run.throughput_pairs),
            THROUGHPUT_TARGET,
            "x",
            at_least=True,
        )
    ]
    for variant in LIST_VARIANTS:
        result.append(
            report.Figure(
                f"list p50, {_count(run.profile.big_agents)} ÷ "
                f"{_count(run.profile.small_agents)} agents: {variant.label}",
                _median_ratio(run.list_rounds[variant.key]),
                variant.target,
                "x",
                at_least=False,
            )
        )
    result.append(
        report.Figure(
            "publish to 100 numbers, p50",
            statistics.median(run.publish_ms),
            PUBLISH_TARGET_MS,
            "ms",
            at_least=False,
        )
    )
    result.append(
        report.Figure(
            "server VmRSS after the run",
            run.memory_end_kib["VmRSS"] * 1024 / 1e6,
            MEMORY_TARGET_MB,
            "MB",
            at_least=False,
        )
    )
    return result


def render(run: Run, machine: dict[str, str], results: list[report.Figure], label: str) -> str:
    profile = run.profile
    lines = ["## Latest run", ""]
    if label:
        lines += [f"**{label}**", ""]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    shares = run.shares[BIG_ORG]
    seeded = (
        f"seeded in this run ({run.seed_timing.insert_seconds:.0f} s insert, "
        f"{run.seed_timing.index_seconds:.0f} s index build, "
        f"{run.seed_timing.analyze_seconds:.0f} s vacuum/analyze)"
        if run.seed_timing
        else "reused from an earlier run (`--skip-seed`)"
    )
    lines += [
        f"- Data: organizations of {profile.small_agents:,} and {profile.big_agents:,} agents, "
        f"{seeded}; in the big one `{seed.RARE_WORD}` matches {shares.rare_name:.1%} of names, "
        f"`{seed.COMMON_WORD}` {shares.common_name:.1%}, `{seed.METADATA_FILTER}` "
        f"{shares.metadata:.1%} of agents.",
        "",
        report.markdown_table(
            ["Figure", "Measured", "Target", "Result"],
            [[f.name, f.measured(), f.goal(), f"**{f.result}**"] for f in results],
        ),
        "",
        "### How",
        "",
        f"- Throughput: `wrk -t1 -c16 -d{profile.throughput_seconds:.0f}s` after a "
        f"{profile.warmup_seconds:.0f} s warm-up of each URL, health and detail alternated "
        f"{profile.throughput_pairs}x; the figure is the median of the pairs' ratios. The detail "
        f"document ({run.detail_bytes:,} bytes) has 5 versions, 3 phone numbers, 2 widgets, SIP "
        "and 200 imported conversations.",
        f"- List latency: `wrk -t1 -c1 -d{profile.latency_seconds:.0f}s --latency` (one "
        "connection, so p50 is the latency of one request alone), small and big organization "
        f"alternated {profile.latency_rounds}x; the figure is the median of the rounds' ratios.",
        f"- Publish: {profile.publishes} sequential `POST …/versions/{{n}}/publish` with 100 "
        f"numbers from an httpx client in the benchmark process (after {profile.publish_warmup} "
        "warm-up calls), alternating two published versions so each call rewrites all 100 slots.",
        "- Memory: VmRSS from /proc/<pid>/status of the server process after everything above; "
        f"MB are 10^6 bytes (the target, {MEMORY_TARGET_MB:.0f} MB, is "
        f"{MEMORY_TARGET_MB * 1e6 / 2**20:.0f} MiB).",
        "",
        "### Details",
        "",
        report.markdown_table(
            [
                "Pair",
                "/health req/s",
                "detail req/s",
                "ratio",
                "CPU µs/request: /health server",
                "detail server",
                "detail PostgreSQL",
            ],
            [
                [
                    str(i + 1),
                    f"{h:,.0f}",
                    f"{d:,.0f}",
                    f"{d / h:.3f}",
                    f"{cpu[0]:.0f}",
                    f"{cpu[1]:.0f}",
                    f"{cpu[2]:.0f}",
                ]
                for i, ((h, d), cpu) in enumerate(
                    zip(run.throughput_pairs, run.throughput_cpu_us, strict=True)
                )
            ],
        ),
        "",
        "CPU per request is the server process's and the bench database's PostgreSQL backends' "
        "user+system time (/proc) during the load, divided by the requests served (background "
        "work of the server, such as an embedded workflow engine, is included); "
        f"{os.cpu_count()} cores are shared by wrk, the server, PostgreSQL and anything else "
        "running.",
        "",
    ]
    rows = []
    small, big = _count(profile.small_agents), _count(profile.big_agents)
    for variant in LIST_VARIANTS:
        rounds = run.list_rounds[variant.key]
        small_plan, big_plan = run.plans[variant.key]
        small_rows, big_rows = run.list_rows[variant.key]
        rows.append(
            [
                variant.label,
                f"{statistics.median(r[0] for r in rounds):.2f} ms ({small_rows} rows)",
                f"{statistics.median(r[1] for r in rounds):.2f} ms ({big_rows} rows)",
                f"{small_plan.execution_ms:.2f} / {big_plan.execution_ms:.2f} ms",
                f"`{small_plan.nodes}`",
                f"`{big_plan.nodes}`",
            ]
        )
    lines += [
        report.markdown_table(
            [
                "List filter",
                f"p50, {small} agents",
                f"p50, {big} agents",
                f"SQL execution {small} / {big}",
                f"plan, {small} agents",
                f"plan, {big} agents",
            ],
            rows,
        ),
        "",
        "SQL execution is EXPLAIN ANALYZE of the exact statement the app sends (warm, best of 3).",
        "",
    ]
    publish = sorted(run.publish_ms)
    lines += [
        f"- Publish latency over {len(publish)} calls: min {publish[0]:.1f} ms, p50 "
        f"{statistics.median(publish):.1f} ms, p90 {publish[int(len(publish) * 0.9) - 1]:.1f} "
        f"ms, max {publish[-1]:.1f} ms.",
        f"- Server memory: VmRSS {run.memory_start_kib['VmRSS'] / 1024:.1f} MiB after start, "
        f"{run.memory_end_kib['VmRSS'] / 1024:.1f} MiB after the run (peak VmHWM "
        f"{run.memory_end_kib['VmHWM'] / 1024:.1f} MiB).",
    ]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CALLPLANE_BENCH_DATABASE_URL"),
        help="PostgreSQL URL of the bench database, which is dropped and recreated "
        f"(default {database.DEFAULT_URL}; with --quick, callplane_bench_quick on that server)",
    )
    parser.add_argument(
        "--skip-seed", action="store_true", help="reuse the already seeded bench database"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20,000 agents, short loads, its own database; RESULTS.md is not written",
    )
    parser.add_argument("--label", default="", help="a note printed above the results")
    parser.add_argument(
        "--no-write", action="store_true", help="print the results without updating RESULTS.md"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a figure misses its target"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk.require_wrk()
    profile = QUICK if args.quick else FULL
    url = args.database_url or database.DEFAULT_URL
    if args.quick and not args.database_url:
        url = make_url(url).set(database="callplane_bench_quick").render_as_string(False)
    if make_url(url).get_backend_name() != "postgresql":
        raise SystemExit("the benchmarks run on PostgreSQL only (postgresql+asyncpg://…)")
    started = time.monotonic()
    date, load_start = _shell("date", "-u"), _load()
    run = Run(profile, url)
    small, big = prepare(run, args.skip_seed)
    asyncio.run(database.delete_orgs(url, MAIN_ORG))
    main_org = asyncio.run(database.create_org(url, MAIN_ORG))
    machine = {
        "Date": date,
        "Cores (nproc)": _shell("nproc"),
        "Memory": _memory_total(),
        "PostgreSQL": asyncio.run(database.server_version(url)),
        "Python": sys.version.split()[0],
        "wrk": wrk.wrk_version(),
        "Code": code_version(),
        "Server": "one `callplane serve` process, CALLPLANE_ENV=production (rate limiting on, "
        "database counter, with a limit the load never reaches), other settings at their "
        "defaults",
        "Command": f"`{command_line()}`",
        "Load average at start": load_start,
    }

    with Server(url) as server:
        log(f"callplane serve pid {server.pid} on {server.base_url}")
        run.memory_start_kib = server.memory_kib()
        with httpx.Client(base_url=server.base_url, headers=main_org.headers, timeout=60) as client:
            built = fixtures.build(client)
        log("fixtures built; measuring throughput")
        measure_throughput(run, server, main_org, built.detail_agent_id)
        log("measuring list latency")
        measure_lists(run, server.base_url, small, big)
        log("measuring publish")
        measure_publish(run, server.base_url, main_org, built)
        run.memory_end_kib = server.memory_kib()
    log("explaining the list queries")
    explain_lists(run, small, big)

    machine["Load average at end"] = _load()
    machine["Wall time"] = f"{time.monotonic() - started:.0f} s ({profile.name} profile)"
    results = figures(run)
    print()
    print(report.table(results))
    print()
    block = render(run, machine, results, args.label)
    if args.quick or args.no_write:
        print(block)
        log("RESULTS.md not written (--quick or --no-write)")
    else:
        report.write(RESULTS, block)
        log(f"wrote {RESULTS}")
    missed = [f.name for f in results if not f.passed]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
