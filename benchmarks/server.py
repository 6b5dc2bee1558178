"""One `callplane serve` process, started as a subprocess against the bench database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


BENCH_RATE_LIMIT = 1_000_000_000


def _callplane_command() -> list[str]:
    """The `callplane` console script of this interpreter's environment (the one `make` built)."""
    script = Path(sys.executable).parent / "callplane"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from callplane.cli import main; main()"]


class Server:
    """`callplane serve` with one process (no --workers): the unit the targets are set for."""

    def __init__(
        self, database_url: str, port: int | None = None, env: dict[str, str] | None = None
    ):
        self.database_url = database_url
        self.extra_env = env or {}
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.gettempdir()) / f"callplane-bench-server-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "server not started"
        return self._process.pid

    def start(self, timeout: float = 30.0) -> None:
        env = {
            **os.environ,
            "CALLPLANE_DATABASE_URL": self.database_url,
            "CALLPLANE_ENV": "production",
            "CALLPLANE_LOG_LEVEL": "warning",
            # Production turns rate limiting on; a limit no run reaches keeps its cost (the
            # shared counter charged in leases, ADR 0007) in the figures without refusing load.
            "CALLPLANE_RATE_LIMIT_REQUESTS": str(BENCH_RATE_LIMIT),
            **self.extra_env,
        }
        command = [*_callplane_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"callplane serve exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"callplane serve did not answer within {timeout:.0f}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (resident now) and VmHWM (peak resident) of the server process, in KiB."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
