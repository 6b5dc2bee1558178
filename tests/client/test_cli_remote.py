"""`callplane agents|versions|numbers|workflows …` in-process against the app: output, exit codes.

One test runs the installed command in a subprocess against the server process, to prove the
entry point; the rest run in-process (`cli` fixture), with no process start.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from callplane.client import Client
from tests.factories import Tenant, unique_phone_number
from tests.support.cli import Cli
from tests.support.processes import clean_env, closed_port, run_command


async def test_agents_versions_numbers_from_the_shell(cli: Cli, tmp_path: Path) -> None:
    name = f"Shell {uuid.uuid4().hex[:8]}"
    agent = await cli.json("agents", "create", "--name", name, "--metadata", '{"team": "ops"}')
    assert (agent["name"], agent["metadata"], agent["active"]) == (name, {"team": "ops"}, True)
    listed = await cli.json("agents", "list", "--name", name)
    assert [a["id"] for a in listed] == [agent["id"]]
    table = (await cli("agents", "list", "--name", name)).stdout.splitlines()
    assert table[0].split() == ["id", "name", "active", "is_demo", "live_version", "updated_at"]
    assert table[1].startswith(agent["id"]) and name in table[1] and len(table) == 2
    assert table[1] == table[1].rstrip()  # piped: no padding after the last column

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"instructions": "Greet callers.", "voice": {"voice_id": "alloy"}})
    )
    version = await cli.json("versions", "create", agent["id"], "--config", str(config))
    assert version["version"] == 1 and version["config"]["instructions"] == "Greet callers."
    config.write_text(json.dumps({"instructions": "Greet callers. Never quote prices."}))
    await cli.json("versions", "create", agent["id"], "--config", str(config))

    number = unique_phone_number()
    registered = await cli.json("numbers", "register", number, "--label", "Main")
    assert (registered["phone_number"], registered["label"]) == (number, "Main")
    touched = await cli.json("versions", "publish", agent["id"], "1", "--number", number)
    assert [(n["phone_number"], n["inbound_version"]) for n in touched] == [(number, 1)]
    assert (await cli.json("numbers", "get", number))["inbound_agent_id"] == agent["id"]
    human = (await cli("versions", "publish", agent["id"], "1", "--number", number)).stdout
    assert human.startswith(f"published version 1 of agent {agent['id']}\n")
    assert number in human.splitlines()[2]  # the table: a header line, then the number

    shown = (await cli("agents", "get", agent["id"])).stdout
    assert f"phone_numbers:  {number}" in shown and "versions:       2, 1 (published)" in shown

    compared = await cli("versions", "compare", agent["id"], "1", "2")
    assert "Never quote prices" in compared.stdout
    diff = await cli.json("versions", "diff", agent["id"], "1", "latest")
    assert diff["from_version"] == 1 and diff["to_version"] == 2
    assert "instructions" in {change["path"] for change in diff["changes"]}


async def test_markup_in_values_is_printed_as_is(cli: Cli) -> None:
    name = f"[bold]Desk[/bold] {uuid.uuid4().hex[:6]}"
    await cli("agents", "create", "--name", name)
    assert name in (await cli("agents", "list", "--name", name)).stdout


async def test_exit_codes(cli: Cli, tenant: Tenant) -> None:
    missing = await cli("agents", "get", str(uuid.uuid4()), expect=3)
    assert missing.stderr.startswith("agent_not_found: ") and missing.stdout == ""
    await cli("versions", "create", str(uuid.uuid4()), expect=2)  # no --config/--base-version
    await cli("agents", "frobnicate", expect=2)
    await cli("agents", "update", str(uuid.uuid4()), expect=2)  # nothing to update

    agent = await tenant.create_agent(name="Stale")
    draft = await tenant.create_version(
        agent["id"], config={}, instruction_builder_inputs={"company_name": "Acme Dental"}
    )
    stale = await cli("versions", "publish", agent["id"], str(draft["version"]), expect=4)
    assert stale.stderr.startswith("instructions_stale: ")
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"] is None

    with closed_port() as port:
        unreachable = await cli("agents", "list", "--url", f"http://127.0.0.1:{port}", expect=5)
    assert unreachable.stderr.startswith("connection_failed: ")


async def test_without_a_key_the_command_says_how_to_give_one(cli: Cli) -> None:
    cli.env["CALLPLANE_API_KEY"] = ""
    for command in (["agents", "list"], ["webhooks", "list"], ["workflows", "wait", "w1"]):
        result = await cli(*command, expect=2)
        assert result.stderr == "no API key: set CALLPLANE_API_KEY or pass --api-key\n"
    wrong = await cli("agents", "list", "--api-key", "ak_bogus", expect=1)  # a key, but wrong
    assert wrong.stderr.startswith("unauthorized: ")


async def test_the_installed_command_talks_to_a_server(server_url: str, tenant: Tenant) -> None:
    name = f"Installed {uuid.uuid4().hex[:8]}"
    with Client(server_url, tenant.api_key) as sdk:
        agent = sdk.agents.create(name=name)
    result = await asyncio.to_thread(
        run_command,
        *("agents", "list", "--name", name, "--json"),
        env=clean_env(CALLPLANE_URL=server_url, CALLPLANE_API_KEY=tenant.api_key),
    )
    assert result.returncode == 0, result.stderr
    assert [a["id"] for a in json.loads(result.stdout)] == [str(agent.id)]
