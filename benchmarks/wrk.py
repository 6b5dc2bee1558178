"""Running `wrk` (the load generator, in its own process) and reading its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors:[^\n]*")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(
            "benchmarks need the `wrk` load generator, which is not installed.\n"
            "Install it from Debian: `apt-get install wrk` (as root), then run `make bench` again."
        )
    return path


def wrk_version() -> str:
    completed = subprocess.run(
        [require_wrk(), "--version"], capture_output=True, text=True, check=False
    )
    return (completed.stdout or completed.stderr).splitlines()[0].strip()


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_second: float
    percentiles_ms: dict[int, float]  # only with latency=True

    @property
    def p50_ms(self) -> float:
        return self.percentiles_ms[50]


def run(
    url: str,
    *,
    headers: dict[str, str],
    seconds: float,
    threads: int = 1,
    connections: int = 1,
    latency: bool = False,
) -> WrkResult:
    """Load `url` for `seconds`; any non-2xx answer or socket error fails the benchmark."""
    command = [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",  # slow answers must count as slow, not vanish as timeouts
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if latency:
        command.append("--latency")
    command.append(url)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    output = completed.stdout
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr}{output}")
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET_ERRORS.search(output)
    if non_2xx or socket_errors:
        raise RuntimeError(f"wrk saw failed requests on {url}:\n{output}")
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    if rps is None or total is None:
        raise RuntimeError(f"could not read wrk's report:\n{output}")
    percentiles = {
        int(match[1]): float(match[2]) * _UNITS_MS[match[3]]
        for match in _PERCENTILE.finditer(output)
    }
    if latency and 50 not in percentiles:
        raise RuntimeError(f"wrk reported no latency distribution:\n{output}")
    return WrkResult(int(total[1]), float(rps[1]), percentiles)
