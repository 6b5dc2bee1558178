"""Where an idle embedded `serve` spends its CPU, thread by thread (issue 16).

`python -m benchmarks.idle_threads [SECONDS]` runs the app in this process (uvicorn, the `make run`
settings: development, rate limiting off) on a fresh SQLite file in a temp dir, waits 5 s for
startup work to settle, then reads every thread's CPU ticks (`/proc/self/task/*/stat`, 10 ms each)
over SECONDS (default 30) and prints them by Python thread name and where the thread is waiting.
The MainThread figure includes this script's own sampling at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path


def _ticks() -> dict[int, int]:
    found = {}
    for tid in os.listdir("/proc/self/task"):
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        found[int(tid)] = int(fields[11]) + int(fields[12])  # utime + stime
    return found


def _label(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or 0)
    if frame is None:
        return thread.name
    stack = [s for s in traceback.extract_stack(frame) if "threading.py" not in s.filename]
    where = " <- ".join(f"{Path(s.filename).name}:{s.name}" for s in reversed(stack[-2:]))
    return f"{thread.name} [{where}]"


async def _measure(seconds: float) -> None:
    import uvicorn

    from callplane.app import create_app

    config = uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await asyncio.sleep(5)
    before, started = _ticks(), time.monotonic()
    await asyncio.sleep(seconds)
    after, elapsed = _ticks(), time.monotonic() - started
    names = {t.native_id: _label(t) for t in threading.enumerate()}
    rows = sorted(((v - before.get(tid, 0), tid) for tid, v in after.items()), reverse=True)
    total = sum(used for used, _ in rows)
    for used, tid in rows:
        if used:
            print(f"{used:5d} ticks  {names.get(tid, '(not a Python thread)')}")
    print(f"total {total} ticks over {elapsed:.1f} s = {total / elapsed:.2f}% of one core")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    server.should_exit = True
    await serving


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    workdir = Path(tempfile.mkdtemp(prefix="callplane-idle-"))
    url = f"sqlite+aiosqlite:///{workdir / 'idle.db'}"
    os.environ.update(
        CALLPLANE_ENV="development", CALLPLANE_RATE_LIMIT_REQUESTS="0", CALLPLANE_DATABASE_URL=url
    )
    from callplane.db import migrate

    migrate.upgrade(url)
    asyncio.run(_measure(seconds))


if __name__ == "__main__":
    main()
