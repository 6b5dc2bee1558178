"""Real `callplane` processes: `serve` and `worker` on a free port of 127.0.0.1, their logs, a
wait until they are ready, and kill/stop; and one-off commands run to completion.

The in-process app (`app_client`, `tests.apps.another_app`) and the in-process CLI
(`tests.support.cli`) cover behaviour; a process is for what only a process shows: crash safety,
signals, scale-out, the installed entry point, a real socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from callplane.config import Settings
from callplane.db.engine import Database
from tests.support.site import LocalSite, Route

COMMAND = [sys.executable, "-c", "from callplane.cli import main; main()"]
Serve = Callable[[dict[str, Route]], LocalSite]  # the suite's `serve` fixture: a local website


def installed_command() -> list[str]:
    """The `callplane` entry point pip installed beside this interpreter (COMMAND without it)."""
    installed = Path(sys.executable).parent / "callplane"
    return [str(installed)] if installed.exists() else COMMAND


def modules_loaded_by(setup: str, modules: list[str]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported once it ran the script `setup`."""
    probe = f"{setup}\nimport sys\nprint('loaded:', *(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.splitlines()[-1].split()[1:]


def free_port() -> int:
    """A port nothing listens on now, for a server about to bind it."""
    with closed_port() as port:
        return port


@contextmanager
def closed_port() -> Iterator[int]:
    """A port bound but never listening while the block runs: connections to it are refused, and
    no other server (another test, another xdist worker) can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its CALLPLANE_ variables, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLPLANE_")} | extra


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The test's environment without its CALLPLANE_ variables, pointed at the suite's database."""
    suite = {
        "CALLPLANE_ENV": "test",
        "CALLPLANE_DATABASE_URL": settings.database_url,
        "CALLPLANE_LOG_LEVEL": "INFO",
    }
    return clean_env(**(suite | extra))


def run_command(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`callplane *args` (the installed entry point) run to completion, its output captured."""
    return subprocess.run(
        [*installed_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Process:
    """One subprocess with its log file; `url` is set for API servers."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, url: str | None = None):
        self.args, self.env, self.log, self.url = args, env, log, url
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as handle:
            return subprocess.Popen(
                [*COMMAND, *self.args], env=self.env, stdout=handle, stderr=handle
            )

    def restart(self) -> None:
        self.popen = self._spawn()

    def kill(self) -> None:
        """`kill -9`: no cleanup, no goodbye to the database."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, within: float = 15) -> None:
        """SIGTERM, as a supervisor stops it; killed if it is not gone `within` seconds."""
        self.popen.terminate()
        try:
            self.popen.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.kill()

    async def exit_code(self, within: float) -> int:
        """Its exit status, once it has exited (at most `within` seconds from now)."""
        return await asyncio.to_thread(self.popen.wait, within)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    async def wait_for(self, ready: Callable[[], bool], what: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not ready():
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{what}: process exited {self.popen.returncode}\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.tail()}")
            await asyncio.sleep(0.05)

    async def wait_healthy(self, within: float = 30.0) -> None:
        assert self.url is not None

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        await self.wait_for(healthy, f"{self.url} to be healthy", within)

    async def wait_worker_started(self, within: float = 30.0) -> str:
        """Waits until the worker takes work; returns its executor id."""
        await self.wait_for(lambda: '"worker started"' in self.tail(100_000), "worker", within)
        for line in self.log.read_text(errors="replace").splitlines():
            if '"worker started"' in line:
                return str(json.loads(line)["executor_id"])
        raise AssertionError("unreachable")


def server(env: dict[str, str], log: Path, *, no_worker: bool = False) -> Process:
    """`callplane serve` on a free port (`no_worker`: it only enqueues workflows)."""
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--no-worker"] if no_worker else []
    return Process(args, env, log, f"http://127.0.0.1:{port}")


class Processes:
    """Starts processes for one test and stops every one of them afterwards."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.started: list[Process] = []

    def server(self, env: dict[str, str], name: str, *, no_worker: bool = True) -> Process:
        return self._add(server(env, self.directory / f"{name}.log", no_worker=no_worker))

    def worker(self, env: dict[str, str], name: str) -> Process:
        return self._add(Process(["worker"], env, self.directory / f"{name}.log"))

    def _add(self, process: Process) -> Process:
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        """Killed rather than stopped: faster, and these processes are disposable."""
        for process in self.started:
            if process.popen.poll() is None:
                process.kill()


async def executor_of(database: Database, workflow_id: str) -> str | None:
    """The DBOS executor that runs (or ran) a workflow."""
    async with database.session(write=False) as session, session.begin():
        found = await session.scalar(
            text("SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = :id"),
            {"id": workflow_id},
        )
    return None if found is None else str(found)


async def finished_run(client: httpx.AsyncClient, workflow_id: str, within: float = 30) -> Any:
    """The workflow run as the API shows it, once it has finished."""
    deadline = time.monotonic() + within
    while True:
        run = (await client.get(f"/core/workflows/{workflow_id}")).json()
        if run["status"] in {"succeeded", "failed", "cancelled"}:
            return run
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.05)
