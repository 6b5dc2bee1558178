"""Issue 15's publish figure, A/B: "publish one version to 100 numbers, p50 ≤ 25 ms" over HTTP.

The call is the one `benchmarks.hotpaths` measures (`run.measure_publish`): sequential
`POST /core/agents/{id}/versions/{n}/publish` with 100 numbers from an httpx client, alternating
two published versions so every call rewrites all 100 inbound slots (100 slot writes, 101 audit
events). The fixtures are `benchmarks.fixtures`, built through the API as hotpaths builds them;
the 100k seeded agents of hotpaths are left out (a publish reads none of them).

Two `callplane serve` processes, each on its own bench database (the same fixtures): the base
(the source tree of another git revision, `--base`, default `main`, exported to a temp dir and
put first on PYTHONPATH) and this tree. Their batches of publishes alternate (A B, B A, …), so a
busy machine slows both alike; per side: the p50 over HTTP, the server's CPU per publish and the
PostgreSQL backends' CPU per publish. Then each tree once more in process (`--child`: the ASGI
app called without sockets, workflows off) for the statements per publish and the process's
CPU per publish; `--profile` prints a cProfile of this tree's publish.

Usage: `python -m benchmarks.publish [--base main] [--rounds 6] [--publishes 20] [--profile]`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks import database, fixtures
from benchmarks.cpu import CpuMeter
from benchmarks.server import BENCH_RATE_LIMIT, Server

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_publish"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Side:
    """One tree under test: its server, organization and fixtures, and what was measured."""

    label: str
    pythonpath: str | None
    url: str
    org: database.Org
    server: Server | None = None
    built: fixtures.Fixtures | None = None
    version: int = 1
    wall_ms: list[float] = field(default_factory=list)
    server_cpu_ms: list[float] = field(default_factory=list)
    database_cpu_ms: list[float] = field(default_factory=list)
    child: dict[str, Any] = field(default_factory=dict)

    def publishes(self, client: httpx.Client, count: int) -> list[float]:
        """`count` publishes, each rewriting all slots; the wall-clock ms of each."""
        assert self.built is not None
        body = orjson.dumps({"phone_numbers": self.built.publish_numbers})
        times = []
        for _ in range(count):
            self.version = 3 - self.version
            url = f"/core/agents/{self.built.publisher_agent_id}/versions/{self.version}/publish"
            started = time.perf_counter()
            response = client.post(url, content=body)
            times.append((time.perf_counter() - started) * 1000)
            _check(response.status_code, response.content, self.version)
        return times


def _check(status: int, content: bytes, version: int) -> None:
    """Every call must answer 200 with all 100 slots rewritten, as run.measure_publish checks."""
    touched = orjson.loads(content) if status == 200 else None
    if not isinstance(touched, list) or len(touched) != 100:
        raise RuntimeError(f"publish answered {status}: {content[:500]!r}")
    if any(slot["inbound_version"] != version for slot in touched):
        raise RuntimeError("publish did not rewrite every slot")


def _export(revision: str, into: str) -> str:
    """The `src/` of `revision`, written under `into`: a base to run without a worktree."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"[publish] base {revision} = {commit}", flush=True)
    return str(Path(into) / "src")


def _server_env(side: Side) -> dict[str, str]:
    env = {"CALLPLANE_RATE_LIMIT_REQUESTS": str(BENCH_RATE_LIMIT)}
    if side.pythonpath:
        env["PYTHONPATH"] = side.pythonpath
    return env


def _http_rounds(sides: list[Side], rounds: int, publishes: int, warmup: int) -> None:
    clients = {}
    for side in sides:
        assert side.server is not None
        headers = {**side.org.headers, "Content-Type": "application/json"}
        clients[side.label] = httpx.Client(
            base_url=side.server.base_url, headers=headers, timeout=60
        )
        side.publishes(clients[side.label], warmup)
    try:
        for i in range(rounds):
            order = sides if i % 2 == 0 else sides[::-1]
            for side in order:
                assert side.server is not None
                with CpuMeter(side.server.pid, database.asyncpg_dsn(side.url)) as meter:
                    times = side.publishes(clients[side.label], publishes)
                side.wall_ms += times
                side.server_cpu_ms.append(meter.server * 1000 / publishes)
                side.database_cpu_ms.append(meter.database * 1000 / publishes)
                print(
                    f"[publish] round {i + 1} {side.label}: p50 {statistics.median(times):.1f} "
                    f"ms, server CPU {side.server_cpu_ms[-1]:.1f} ms/publish, PostgreSQL "
                    f"{side.database_cpu_ms[-1]:.1f} ms/publish (load "
                    f"{os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    finally:
        for client in clients.values():
            client.close()


def _run_child(side: Side, publishes: int) -> None:
    assert side.built is not None
    env = {**os.environ}
    if side.pythonpath:
        env["PYTHONPATH"] = side.pythonpath
    spec = {
        "url": side.url,
        "key": side.org.api_key,
        "agent": side.built.publisher_agent_id,
        "numbers": side.built.publish_numbers,
        "version": side.version,
        "publishes": publishes,
    }
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.publish", "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    side.child = json.loads(out.stdout.strip().splitlines()[-1])
    side.version = side.child["version"]


# --- in process ------------------------------------------------------------------------------


async def _child(spec: dict[str, Any], profile: bool) -> dict[str, Any]:
    """Publishes through the ASGI app in this process: statements and CPU per publish."""
    os.environ.update(
        {
            "CALLPLANE_DATABASE_URL": spec["url"],
            "CALLPLANE_ENV": "production",
            "CALLPLANE_WORKFLOWS": "off",
            "CALLPLANE_LOG_LEVEL": "warning",
            "CALLPLANE_RATE_LIMIT_REQUESTS": str(BENCH_RATE_LIMIT),
        }
    )
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from callplane.app import create_app

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    app = create_app()
    headers = {"Authorization": f"Bearer {spec['key']}", "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    body = orjson.dumps({"phone_numbers": spec["numbers"]})
    version = spec["version"]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client,
    ):

        async def publish() -> None:
            nonlocal version
            version = 3 - version
            url = f"/core/agents/{spec['agent']}/versions/{version}/publish"
            response = await client.post(url, content=body)
            _check(response.status_code, response.content, version)

        for _ in range(5):
            await publish()
        statements.clear()
        cpu, wall = [], []
        for _ in range(spec["publishes"]):
            started, started_cpu = time.perf_counter(), time.process_time()
            await publish()
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        per_publish = len(statements) / spec["publishes"]
        sample = statements[-round(per_publish) :]
        if profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not time spent waiting
            profiler.enable()
            for _ in range(spec["publishes"]):
                await publish()
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("cumulative").print_stats(
                r"callplane|sqlalchemy/(orm/session|engine/base)|pydantic|fastapi/(routing|dependencies)",
                80,
            )
            stats.sort_stats("tottime").print_stats(40)
    return {
        "statements": per_publish,
        "sample": [" ".join(s.split())[:160] for s in sample],
        "cpu_ms": statistics.median(cpu),
        "wall_ms": statistics.median(wall),
        "version": version,
    }


# --- main --------------------------------------------------------------------------------------


def _summary(sides: list[Side]) -> None:
    base, branch = sides
    print()
    print(f"- {time.strftime('%H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.2f}")
    print("| figure | base | this tree | ratio |")
    print("|---|---|---|---|")
    rows = [
        ("p50 over HTTP (ms)", statistics.median(base.wall_ms), statistics.median(branch.wall_ms)),
        ("min over HTTP (ms)", min(base.wall_ms), min(branch.wall_ms)),
        (
            "server CPU per publish (ms, median of rounds)",
            statistics.median(base.server_cpu_ms),
            statistics.median(branch.server_cpu_ms),
        ),
        (
            "PostgreSQL CPU per publish (ms, median of rounds)",
            statistics.median(base.database_cpu_ms),
            statistics.median(branch.database_cpu_ms),
        ),
        ("in process: CPU per publish (ms, p50)", base.child["cpu_ms"], branch.child["cpu_ms"]),
        ("in process: wall per publish (ms, p50)", base.child["wall_ms"], branch.child["wall_ms"]),
        ("statements per publish", base.child["statements"], branch.child["statements"]),
    ]
    for name, a, b in rows:
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    print(f"- calls over HTTP per side: {len(branch.wall_ms)}")
    for side in sides:
        print(f"- {side.label} statements:")
        for statement in side.child["sample"]:
            print(f"  - `{statement}`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--base", default="main", help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--publishes", type=int, default=20, help="per side per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = asyncio.run(_child(json.loads(args.child), args.profile))
        print(json.dumps(result))
        return 0
    urls = [f"{args.database_url}_base", f"{args.database_url}_tree"]
    for url in urls:
        asyncio.run(database.recreate(url))
        database.upgrade(url)
    with tempfile.TemporaryDirectory(prefix="callplane-publish-base-") as scratch:
        base = _export(args.base, scratch)
        sides = [
            Side("base", base, urls[0], asyncio.run(database.create_org(urls[0], "bench"))),
            Side("this tree", None, urls[1], asyncio.run(database.create_org(urls[1], "bench"))),
        ]
        try:
            for side in sides:
                side.server = Server(side.url, env=_server_env(side))
                side.server.start()
                with httpx.Client(
                    base_url=side.server.base_url, headers=side.org.headers, timeout=60
                ) as client:
                    side.built = fixtures.build(client)
                side.version = side.built.live_publisher_version
            _http_rounds(sides, args.rounds, args.publishes, args.warmup)
        finally:
            for side in sides:
                if side.server is not None:
                    side.server.stop()
        for side in sides:
            _run_child(side, args.publishes * 2)
    _summary(sides)
    if args.profile:
        spec = {
            "url": sides[1].url,
            "key": sides[1].org.api_key,
            "agent": sides[1].built and sides[1].built.publisher_agent_id,
            "numbers": sides[1].built and sides[1].built.publish_numbers,
            "version": sides[1].version,
            "publishes": args.publishes,
        }
        asyncio.run(_child(spec, profile=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
