"""Stopping the engine (`worker.stop`, from the API's lifespan and the worker's exit)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from callplane import worker


async def test_the_event_loop_runs_on_while_the_engine_drains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DBOS waits for running workflows by sleeping: done on the event loop, that wait froze the
    workflows this process had started on the loop, so none could finish in its grace period
    (and each then failed its next step for want of the runtime). The wait runs in a thread; the
    runtime is cleared only after it."""
    calls: list[Any] = []

    def draining() -> None:  # what DBOS.destroy does while workflows remain: time.sleep
        time.sleep(0.3)
        calls.append("shutdown")

    monkeypatch.setattr(worker.engine, "shutdown", draining)
    monkeypatch.setattr(worker, "set_runtime", lambda runtime: calls.append(("runtime", runtime)))
    ticks = 0

    async def workflow_on_the_loop() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    running = asyncio.create_task(workflow_on_the_loop())
    await asyncio.sleep(0)
    await worker.stop()
    running.cancel()
    assert ticks >= 10, ticks
    assert calls == ["shutdown", ("runtime", None)]
