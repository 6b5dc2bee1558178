"""Agents as code with tests: tests live in the YAML next to their agent, `plan` shows test
changes, `apply --test` runs them against the new draft and stops (unpublished) on failure."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from callplane.agenttests import runner
from callplane.ascode.model import FileError, load_file
from tests.factories import Tenant
from tests.support.bridge import IN_PROCESS_URL, route_to_app
from tests.support.cli import invoke


@pytest.fixture
async def server(app_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> str:
    route_to_app(app_client, monkeypatch)
    return IN_PROCESS_URL


@pytest.fixture(autouse=True)
def offline(client: httpx.AsyncClient) -> Iterator[None]:
    runner.pin_live_runtime(client.app.state.live_runtime)  # type: ignore[attr-defined]
    yield
    runner.pin_live_runtime(None)


def _run(key: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = invoke(list(args), {"CALLPLANE_URL": IN_PROCESS_URL, "CALLPLANE_API_KEY": key})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


async def cli(key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run, key, *args)


def write(path: Path, name: str, greeting: str, tests: list[dict[str, Any]] | None) -> None:
    agent: dict[str, Any] = {
        "name": name,
        "config": {"instructions": "Greet.", "starting_message": greeting},
    }
    if tests is not None:
        agent["tests"] = tests
    path.write_text(yaml.safe_dump({"apiVersion": "callplane/v1", "agents": [agent]}))


GREETS = {
    "name": "greets",
    "turns": ["Hi"],
    "expectations": [{"type": "reply_contains", "text": "Welcome"}],
}


async def test_tests_in_the_file_are_planned_applied_and_run(
    server: str, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "agents.yaml"
    name = f"As code {tmp_path.name}"
    write(path, name, "Welcome to Acme.", [GREETS])
    planned = await cli(tenant.api_key, "plan", "--file", str(path))
    assert planned.returncode == 10 and '+ test "greets"' in planned.stdout
    applied = await cli(tenant.api_key, "apply", "--file", str(path), "--test")
    assert applied.returncode == 0, applied.stderr
    assert 'created test "greets"' in applied.stdout
    assert "tests of v1 passed" in applied.stdout
    again = await cli(tenant.api_key, "plan", "--file", str(path))
    assert again.returncode == 0, again.stdout  # converged: tests compare equal

    [agent] = (await tenant.get("/core/agents", params={"name": name})).json()["data"]
    assert agent["live_version"] == 1

    # A new greeting that breaks the test, and a second test replacing nothing: apply --test
    # runs them against the new draft and stops before publishing it.
    changed = {
        **GREETS,
        "expectations": [{"type": "reply_contains", "text": "Welcome"}],
        "turns": ["Hello"],
    }
    write(path, name, "Hello there.", [changed])
    planned = await cli(tenant.api_key, "plan", "--file", str(path))
    assert '~ test "greets"' in planned.stdout and "new version" in planned.stdout
    stopped = await cli(tenant.api_key, "apply", "--file", str(path), "--test")
    assert stopped.returncode == 1
    assert "✗ greets" in stopped.stderr and "not published" in stopped.stderr
    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    assert detail["live_version"] == 1 and [v["version"] for v in detail["versions"]] == [2, 1]

    # Dropping the tests from the list deletes them; leaving `tests` out leaves them alone.
    write(path, name, "Welcome back.", [])
    planned = await cli(tenant.api_key, "plan", "--file", str(path))
    assert '- test "greets"' in planned.stdout
    write(path, name, "Welcome back.", None)
    planned = await cli(tenant.api_key, "plan", "--file", str(path))
    assert 'test "' not in planned.stdout


def test_bad_tests_in_the_file_are_reported_with_their_place(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    write(path, "A", "Hi.", [GREETS, {**GREETS}, {"name": "x", "turns": ["a"], "expectations": []}])
    with pytest.raises(FileError) as raised:
        load_file(path)
    problems = "\n".join(raised.value.problems)
    assert "agents[0].tests[1].name: 'greets' is declared twice" in problems
    assert "agents[0].tests[2].expectations" in problems
