"""A real `callplane serve` process on the suite's database, for the SDK and CLI to talk to.

It runs workflows on its own queue and executor id, so the in-process test app never takes its
work (and vice versa).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callplane.config import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    suffix = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPLANE_")}
    env |= {
        "CALLPLANE_ENV": "test",
        "CALLPLANE_DATABASE_URL": settings.database_url,
        "CALLPLANE_WORKFLOW_QUEUE": f"sdk-{suffix}",
        "CALLPLANE_WORKFLOW_EXECUTOR_ID": f"sdk-server-{suffix}",
        "CALLPLANE_LOG_LEVEL": "WARNING",
    }
    log: Path = tmp_path_factory.mktemp("sdk-server") / "server.log"
    command = [sys.executable, "-c", "from callplane.cli import main; main()", "serve"]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=handle,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server did not become healthy: {log.read_text()[-3000:]}")
