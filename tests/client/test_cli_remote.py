"""The real `callplane` command in a subprocess against the server process: output and exit codes.

Each start costs about a second, so one test walks a whole session of commands.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callplane.client import Client
from tests.factories import Tenant, unique_phone_number

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(server_url: str, tenant: Tenant) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPLANE_")}
    env |= {"CALLPLANE_URL": server_url, "CALLPLANE_API_KEY": tenant.api_key}
    installed = Path(sys.executable).parent / "callplane"
    fallback = [sys.executable, "-c", "from callplane.cli import main; main()"]
    command = [str(installed)] if installed.exists() else fallback

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
        return result

    return run


def loads(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


async def test_agents_versions_numbers_from_the_shell(
    cli: Run, server_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    name = f"Shell {uuid.uuid4().hex[:8]}"
    agent = loads(
        cli("agents", "create", "--name", name, "--metadata", '{"team": "ops"}', "--json")
    )
    assert (agent["name"], agent["metadata"], agent["active"]) == (name, {"team": "ops"}, True)
    listed = loads(cli("agents", "list", "--name", name, "--json"))
    assert [a["id"] for a in listed] == [agent["id"]]
    table = cli("agents", "list", "--name", name).stdout.splitlines()
    assert table[0].split() == ["id", "name", "active", "is_demo", "live_version", "updated_at"]
    assert table[1].startswith(agent["id"]) and name in table[1] and len(table) == 2

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"instructions": "Greet callers.", "voice": {"voice_id": "alloy"}})
    )
    version = loads(cli("versions", "create", agent["id"], "--config", str(config), "--json"))
    assert version["version"] == 1 and version["config"]["instructions"] == "Greet callers."
    config.write_text(json.dumps({"instructions": "Greet callers. Never quote prices."}))
    loads(cli("versions", "create", agent["id"], "--config", str(config), "--json"))

    number = unique_phone_number()
    registered = loads(cli("numbers", "register", number, "--label", "Main", "--json"))
    assert (registered["phone_number"], registered["label"]) == (number, "Main")
    touched = loads(cli("versions", "publish", agent["id"], "1", "--number", number, "--json"))
    assert [(n["phone_number"], n["inbound_version"]) for n in touched] == [(number, 1)]
    assert loads(cli("numbers", "get", number, "--json"))["inbound_agent_id"] == agent["id"]

    compared = cli("versions", "compare", agent["id"], "1", "2")
    assert "Never quote prices" in compared.stdout
    diff = loads(cli("versions", "diff", agent["id"], "1", "latest", "--json"))
    assert diff["from_version"] == 1 and diff["to_version"] == 2
    assert "instructions" in {change["path"] for change in diff["changes"]}


async def test_exit_codes(cli: Run, server_url: str, tenant: Tenant) -> None:
    missing = cli("agents", "get", str(uuid.uuid4()), expect=3)
    assert missing.stderr.startswith("agent_not_found: ") and missing.stdout == ""
    cli("versions", "create", str(uuid.uuid4()), expect=2)  # neither --config nor --base-version
    cli("agents", "frobnicate", expect=2)

    with Client(server_url, tenant.api_key) as sdk:
        agent = sdk.agents.create(name="Stale")
        draft = sdk.agents.versions.create(
            agent.id, config={}, instruction_builder_inputs={"company_name": "Acme Dental"}
        )
    stale = cli("versions", "publish", str(agent.id), str(draft.version), expect=4)
    assert stale.stderr.startswith("instructions_stale: ")
    with Client(server_url, tenant.api_key) as sdk:
        assert sdk.agents.get(agent.id).live_version is None  # nothing published
        workflow_id = sdk.agents.versions.generate_instructions(agent.id, draft.version)

    run = loads(cli("workflows", "wait", workflow_id, "--timeout", "30", "--json"))
    assert (run["workflow_id"], run["status"]) == (workflow_id, "succeeded")
    cli("workflows", "wait", "no-such-workflow", expect=3)

    with socket.socket() as closed:  # bound but not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        unreachable = cli("agents", "list", "--url", f"http://127.0.0.1:{port}", expect=5)
    assert unreachable.stderr.startswith("connection_failed: ")
