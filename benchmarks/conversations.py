"""Live conversations: the server's own cost per turn, the streaming latency, and a burst.

`.venv/bin/python -m benchmarks.conversations [--sqlite] [--postgres URL] [--write]`

Against one in-process uvicorn server (the real app, HTTP over 127.0.0.1, workflows off), on a
fresh SQLite file and on a fresh PostgreSQL database:

1. Server time per turn excluding the LLM: the app's model is an in-process model that answers
   at once (no HTTP, no tokens to wait for), so a turn's wall time, seen by an httpx client, is
   the server's work: load, prompt, engine, events, the transcript write. p50 over sequential
   turns (SSE and JSON), target ≤ 15 ms.
2. First SSE byte after the model's first token: the model is the local OpenAI-compatible stub
   server (tests/support/llm_stub.py) through the real `openai` client; the stub stamps when it
   writes its first token, the client when the first `delta` event arrives. p50, target ≤ 5 ms.
3. 100 concurrent streaming conversations (each started, one streamed turn) against the stub:
   errors (target 0) and wall time.

With `--write` the figures are appended to benchmarks/RESULTS.md (section "Live conversations").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from benchmarks import database as bench_db
from callplane.app import create_app
from callplane.config import Settings
from callplane.llm import OpenAICompatibleProvider
from callplane.llm.provider import ChatItem, TextDelta, Usage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support
from tests.support.llm_stub import Scripted, StubLLMServer, user_text

RESULTS = Path(__file__).with_name("RESULTS.md")
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_conversations"
TURNS = 200
WARMUP = 20
FIRST_BYTE_TURNS = 100
CONCURRENT = 100
TURN_TARGET_MS = 15.0
FIRST_BYTE_TARGET_MS = 5.0
CONFIG = {
    "instructions": "You are the assistant of {{company}}. Answer briefly.",
    "starting_message": "Hello, this is {{company}}.",
    "llm": {"model": "bench-model", "temperature": 0.2},
}


class InstantModel:
    """A model that answers at once: three deltas and usage, no I/O."""

    @property
    def name(self) -> str:
        return "instant"

    async def stream_chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None,
        model: str | None,
        temperature: float,
        max_tokens: int | None,
    ) -> AsyncIterator[ChatItem]:
        for piece in ("We are open ", "from nine ", "to five."):
            yield TextDelta(piece)
        yield Usage(40, 6)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def first_delta_at(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    """POST a message, return perf_counter() when the first `delta` event's bytes arrive."""
    async with client.stream("POST", url, json={"content": "Hours?"}, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        seen: float | None = None
        buffer = b""
        async for chunk in response.aiter_raw():
            if seen is None:
                buffer += chunk
                if b"event: delta" in buffer:
                    seen = time.perf_counter()
        assert seen is not None
        return seen


async def run_one(database_url: str, label: str) -> dict[str, Any]:
    settings = Settings(
        env="test",
        database_url=database_url,
        workflows="off",
        access_log=False,
        rate_limit_requests=0,  # off (the default outside production)
        crawler_allow_private_networks=True,
    )
    org = await bench_db.create_org(database_url, f"conversations-{label}")
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    stub = StubLLMServer()
    stub.responder = lambda body: Scripted(text=f"You said {user_text(body)} and we are open.")
    stub.start()
    figures: dict[str, Any] = {"label": label}
    try:
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=CONCURRENT + 10)
        async with httpx.AsyncClient(
            base_url=base, headers=org.headers, timeout=60, limits=limits
        ) as client:
            agent = (await client.post("/core/agents", json={"name": "Bench"})).json()
            version = await client.post(
                f"/core/agents/{agent['id']}/versions", json={"config": CONFIG}
            )
            assert version.status_code == 201, version.text

            async def start() -> str:
                response = await client.post(
                    f"/core/agents/{agent['id']}/conversations",
                    json={"version": "latest", "variables": {"company": "Acme"}},
                )
                assert response.status_code == 201, response.text
                return str(response.json()["id"])

            runtime = app.state.live_runtime
            # 1. server time per turn, model answering at once
            runtime.model = InstantModel()
            for accept, key in (
                ("text/event-stream", "turn_sse"),
                ("application/json", "turn_json"),
            ):
                times = []
                conversation = await start()
                for n in range(WARMUP + TURNS):
                    if n and n % 20 == 0:
                        conversation = await start()  # keep transcripts short, like real ones
                    began = time.perf_counter()
                    response = await client.post(
                        f"/core/conversations/{conversation}/messages",
                        json={"content": f"Question {n}?"},
                        headers={"Accept": accept},
                    )
                    elapsed = time.perf_counter() - began
                    assert response.status_code == 200, response.text
                    assert b"done" in response.content
                    if n >= WARMUP:
                        times.append(elapsed * 1000)
                figures[key] = times
            # 2. first SSE byte after the stub's first token
            provider = OpenAICompatibleProvider(
                stub.base_url, "sk-bench", "bench-model", timeout_seconds=30, max_retries=0
            )
            runtime.model = provider
            gaps = []
            for n in range(WARMUP + FIRST_BYTE_TURNS):
                conversation = await start() if n % 20 == 0 else conversation
                stub.first_token_at.clear()
                seen = await first_delta_at(
                    client, f"/core/conversations/{conversation}/messages", {}
                )
                if n >= WARMUP:
                    gaps.append((seen - stub.first_token_at[0]) * 1000)
            figures["first_byte"] = gaps
            # 3. a burst of concurrent streaming conversations
            errors: list[str] = []

            async def converse() -> None:
                try:
                    conversation = await start()
                    await first_delta_at(client, f"/core/conversations/{conversation}/messages", {})
                except Exception as error:  # counted, not raised
                    errors.append(repr(error))

            began = time.perf_counter()
            await asyncio.gather(*(converse() for _ in range(CONCURRENT)))
            figures["burst_seconds"] = time.perf_counter() - began
            figures["burst_errors"] = errors
            await provider.aclose()
    finally:
        stub.stop()
        server.should_exit = True
        await serving
    return figures


def summary(figures: dict[str, Any]) -> list[str]:
    sse, js, gaps = figures["turn_sse"], figures["turn_json"], figures["first_byte"]
    label = figures["label"]
    rows = [
        (
            f"{label}: server time per turn (SSE), p50",
            statistics.median(sse),
            TURN_TARGET_MS,
            f"p90 {percentile(sse, 0.9):.1f} ms, {len(sse)} turns",
        ),
        (
            f"{label}: server time per turn (JSON), p50",
            statistics.median(js),
            TURN_TARGET_MS,
            f"p90 {percentile(js, 0.9):.1f} ms, {len(js)} turns",
        ),
        (
            f"{label}: first SSE byte after the model's first token, p50",
            statistics.median(gaps),
            FIRST_BYTE_TARGET_MS,
            f"p90 {percentile(gaps, 0.9):.1f} ms, {len(gaps)} turns",
        ),
    ]
    lines = []
    for name, value, target, detail in rows:
        verdict = "PASS" if value <= target else "FAIL"
        lines.append(f"| {name} | {value:.2f} ms | ≤ {target:g} ms | **{verdict}** | {detail} |")
    errors = figures["burst_errors"]
    lines.append(
        f"| {label}: {CONCURRENT} concurrent streaming conversations | {len(errors)} errors "
        f"in {figures['burst_seconds']:.2f} s | 0 errors | "
        f"**{'PASS' if not errors else 'FAIL'}** | start + one streamed turn each |"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="only SQLite")
    parser.add_argument("--postgres", default=PG_URL, help="PostgreSQL URL (a bench database)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--write", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="callplane-bench-conv-") as directory:
        sqlite_url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        bench_db.upgrade(sqlite_url)
        results.append(asyncio.run(run_one(sqlite_url, "SQLite")))
    if not (args.sqlite or args.no_postgres):
        asyncio.run(bench_db.recreate(args.postgres))
        bench_db.upgrade(args.postgres)
        results.append(asyncio.run(run_one(args.postgres, "PostgreSQL")))
    load = os.getloadavg()
    header = [
        "",
        "## Live conversations (`python -m benchmarks.conversations`)",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; cores (nproc): {os.cpu_count()}; "
        f"load average at the end {load[0]:.2f} (1 min) — the machine was shared with other "
        "work while this ran",
        "- One in-process uvicorn server (the real app, HTTP over 127.0.0.1, workflows off), "
        "fresh database; the client is httpx in the same process. Per-turn time: the app's "
        "model answers at once in-process (what remains is the server: load, prompt, engine, "
        "SSE/JSON, the transcript write), 200 sequential turns after 20 warm-up, a new "
        "conversation every 20 turns. First byte: the stub OpenAI-compatible server through the "
        "real `openai` client; time from the stub writing its first token to the client "
        "reading the first `delta` event.",
        "",
        "| Figure | Measured | Target | Result | Detail |",
        "|---|---|---|---|---|",
    ]
    lines = header + [line for figures in results for line in summary(figures)]
    for figures in results:
        if figures["burst_errors"]:
            lines.append(f"\n{figures['label']} burst errors: {figures['burst_errors'][:3]}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with RESULTS.open("a") as results_file:
            results_file.write(text)


if __name__ == "__main__":
    main()
