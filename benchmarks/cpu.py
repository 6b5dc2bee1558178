"""CPU time spent by the server process and by the bench database's PostgreSQL backends, so a
throughput figure comes with where its time went (Linux /proc only)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import TracebackType

import asyncpg

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)"; fields[0] is field 3
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def _backends(dsn: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


class CpuMeter:
    """`with CpuMeter(pid, dsn) as meter: ...` then `meter.server` / `meter.database` seconds.

    Backends are the bench database's connections (the server's pool); ones opened during the
    block count from zero. Other databases' work on the same PostgreSQL is not counted.
    """

    def __init__(self, server_pid: int, dsn: str):
        self.server_pid = server_pid
        self.dsn = dsn
        self.server = 0.0
        self.database = 0.0
        self._server_start = 0.0
        self._backends_start: dict[int, float] = {}

    def _backend_times(self) -> dict[int, float]:
        times = {}
        for pid in asyncio.run(_backends(self.dsn)):
            seconds = cpu_seconds(pid)
            if seconds is not None:
                times[pid] = seconds
        return times

    def __enter__(self) -> CpuMeter:
        self._backends_start = self._backend_times()
        self._server_start = cpu_seconds(self.server_pid) or 0.0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server = (cpu_seconds(self.server_pid) or 0.0) - self._server_start
        end = self._backend_times()
        for pid, start in self._backends_start.items():
            end.setdefault(pid, cpu_seconds(pid) or start)
        self.database = sum(
            seconds - self._backends_start.get(pid, 0.0) for pid, seconds in end.items()
        )
