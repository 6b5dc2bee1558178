"""Server CPU per request of list pages against the detail route, in-process (issue 15).

The ASGI app (production settings, rate limiting on with a limit never reached, workflows off)
is called directly — no sockets, no uvicorn, no load generator sharing the cores — `--requests`
times per route and round, sequentially, and the process's CPU time (user + system,
`time.process_time`) is divided by the requests. Routes alternate within each round so a
change of machine load hits all of them alike; the figure per route is the minimum over rounds
(the least disturbed). PostgreSQL's own CPU is not counted: this measures the Python side.

To compare two trees in one window, run it once per tree with `PYTHONPATH=<tree>/src`.

Usage: `python -m benchmarks.listcpu --database-url URL [--requests 2000] [--rounds 5]
[--profile FILE]` on a database seeded by `benchmarks.seed` (the `bench-big` organization).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time

from benchmarks import database, run
from benchmarks.inprocess import Driver
from benchmarks.server import BENCH_RATE_LIMIT

ROUTES = {
    "health": "/health",
    "detail": "/core/agents/{agent}",
    "list": "/core/agents?limit=20",
    "list page 2": "/core/agents?limit=20&cursor={cursor}",
    "list active": "/core/agents?limit=20&active=true&is_demo=false",
    "list name=billing": "/core/agents?limit=20&name=billing",
    "list name=larkspur": "/core/agents?limit=20&name=larkspur",
}


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    os.environ.update(
        {
            "CALLPLANE_DATABASE_URL": args.database_url,
            "CALLPLANE_ENV": "production",
            "CALLPLANE_LOG_LEVEL": "warning",
            "CALLPLANE_RATE_LIMIT_REQUESTS": str(BENCH_RATE_LIMIT),
            "CALLPLANE_WORKFLOWS": "off",
            "CALLPLANE_DATABASE_POOL_SIZE": "4",
        }
    )
    from callplane.app import create_app  # after the environment is set
    from callplane.config import Settings

    big = await database.existing_org(args.database_url, run.BIG_ORG)
    if big is None:
        raise SystemExit(f"no organization {run.BIG_ORG!r}: seed the database first")
    app = create_app(Settings())
    driver = Driver(app, {"authorization": f"Bearer {big.api_key}", "accept": "*/*"})
    results: dict[str, list[float]] = {name: [] for name in ROUTES}
    async with app.router.lifespan_context(app):
        status, body = await driver.get("/core/agents?limit=20")
        if status != 200:
            raise SystemExit(f"list answered {status}: {body[:300]!r}")
        import orjson

        page = orjson.loads(body)
        values = {"agent": page["data"][0]["id"], "cursor": page["pagination"]["next_cursor"]}
        targets = {name: route.format(**values) for name, route in ROUTES.items()}
        for target in targets.values():  # warm up: compiled caches, pool, auth cache
            for _ in range(50):
                status, body = await driver.get(target)
            if status != 200:
                raise SystemExit(f"{target} answered {status}: {body[:300]!r}")
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        for _ in range(args.rounds):
            for name, target in targets.items():
                if profiler is not None and name == args.profile_route:
                    profiler.enable()
                started = time.process_time()
                for _ in range(args.requests):
                    await driver.get(target)
                results[name].append((time.process_time() - started) * 1e6 / args.requests)
                if profiler is not None:
                    profiler.disable()
        if profiler is not None:
            profiler.dump_stats(args.profile)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.listcpu")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "CALLPLANE_BENCH_DATABASE_URL",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_hotpaths",
        ),
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of --profile-route here")
    parser.add_argument("--profile-route", default="list")
    args = parser.parse_args()
    load = os.getloadavg()
    results = asyncio.run(measure(args))
    detail = min(results["detail"])
    print(f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| route | CPU µs per request (min of rounds) | rounds | ÷ detail |")
    print("|---|---|---|---|")
    for name, figures in results.items():
        rounds = " / ".join(f"{value:.0f}" for value in figures)
        print(f"| {name} | {min(figures):.0f} | {rounds} | {min(figures) / detail:.2f}x |")


if __name__ == "__main__":
    main()
