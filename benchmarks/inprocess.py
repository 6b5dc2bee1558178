"""Server CPU per request, in-process (issue 15): the ASGI app called by a minimal driver, no
sockets, no HTTP parser, so the figure is the application's own work (middleware, auth, routing,
the query's client side, encoding) and does not move with the load of a shared machine as much
as wall-clock throughput does.

The app runs with production settings (rate limiting on, with a limit no run reaches) and
workflows off (no engine threads in the process: `time.process_time()` is the request path's).
`--concurrency` requests are in flight at once (as wrk's connections would be), each sequence of
`--requests` is repeated `--rounds` times and the best round is reported (least disturbed).

Usage: `python -m benchmarks.inprocess [--database-url URL] [--requests 3000] [--rounds 5]
[--concurrency 16] [--profile ROUTE] [--only ROUTES] [--skip-seed]` (SQLite when the URL is
`sqlite+aiosqlite:///…`; default: PostgreSQL `callplane_bench_inprocess`). `--profile detail`
prints a cProfile of that route.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from benchmarks import database
from benchmarks.routing import prepare
from benchmarks.server import BENCH_RATE_LIMIT, Server
from benchmarks.workflows import bootstrap

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_inprocess"


class Driver:
    """Calls an ASGI app the way uvicorn would, minus the socket."""

    def __init__(self, app: Any, headers: dict[str, str]):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def get(self, target: str, extra: dict[str, str] | None = None) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        headers = [(b"host", b"127.0.0.1"), *self.headers]
        headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status = 0
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(body)


async def _run(
    driver: Driver, target: str, count: int, concurrency: int, extra: dict[str, str] | None
) -> None:
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, body = await driver.get(target, extra)
            if status not in (200, 304):
                raise RuntimeError(f"{target}: {status} {body[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(args: argparse.Namespace, url: str, key: str, targets: dict[str, Any]) -> None:
    os.environ.update(
        {
            "CALLPLANE_DATABASE_URL": url,
            "CALLPLANE_ENV": "production" if url.startswith("postgresql") else "development",
            "CALLPLANE_WORKFLOWS": "off",
            "CALLPLANE_LOG_LEVEL": "warning",
            "CALLPLANE_RATE_LIMIT_REQUESTS": str(BENCH_RATE_LIMIT),
        }
    )
    from callplane.app import create_app
    from callplane.config import get_settings

    get_settings.cache_clear()
    app = create_app()
    driver = Driver(app, {"Authorization": f"Bearer {key}"})
    async with app.router.lifespan_context(app):
        results: dict[str, float] = {}
        for name, (target, extra) in targets.items():
            await _run(driver, target, 300, args.concurrency, extra)  # warm up
            best = float("inf")
            for _ in range(args.rounds):
                started = time.process_time()
                await _run(driver, target, args.requests, args.concurrency, extra)
                best = min(best, (time.process_time() - started) / args.requests)
            results[name] = best
            print(f"[inprocess] {name}: {best * 1e6:.0f} µs CPU/request", flush=True)
        if args.profile:
            target, extra = targets[args.profile]
            profiler = cProfile.Profile()
            profiler.enable()
            await _run(driver, target, args.requests, args.concurrency, extra)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(45)
    health = results["health"]
    print(f"load average: {os.getloadavg()[0]:.1f}")
    for name, seconds in results.items():
        print(f"| {name} | {seconds * 1e6:.0f} µs | {health / seconds:.2f}x /health's CPU |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", choices=["health", "detail", "resolve", "resolve_sip"])
    parser.add_argument("--only", help="comma-separated routes to measure (health always is)")
    parser.add_argument(
        "--skip-seed",
        action="store_true",
        help="PostgreSQL: reuse the database and agent an earlier run of the same URL seeded "
        "(for A/B runs of two checkouts, alternated)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callplane-inprocess-") as scratch:
        url = args.database_url
        if url == "sqlite":
            url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        seeded = Path(tempfile.gettempdir()) / f"callplane-inprocess-{url.rsplit('/', 1)[-1]}.json"
        if args.skip_seed and url.startswith("postgresql"):
            key, targets = json.loads(seeded.read_text())
        else:
            if url.startswith("postgresql"):
                asyncio.run(database.recreate(url))
            key = bootstrap(url)
            targets = _prepare(url, key)
            seeded.write_text(json.dumps([key, targets]))
        if args.only:
            wanted = {"health", *args.only.split(",")}
            targets = {name: target for name, target in targets.items() if name in wanted}
        # uvicorn's loop, as `callplane serve` runs it
        uvloop.run(measure(args, url, key, targets))


def _prepare(url: str, key: str) -> dict[str, Any]:
    """The routing benchmark's agent (a realistic config, a number, a SIP endpoint), made
    through the API of a `callplane serve` started for the purpose."""
    env = {"CALLPLANE_WORKFLOWS": "off"}
    if url.startswith("sqlite"):
        env["CALLPLANE_ENV"] = "development"
    with (
        Server(url, env=env) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client,
    ):
        phone_url, sip_url, detail_url = prepare(client)
    return {
        "health": ("/health", None),
        "detail": (detail_url, None),
        "resolve": (phone_url, None),
        "resolve_sip": (sip_url, None),
    }


if __name__ == "__main__":
    main()
