"""Agents as code against the app, through the SDK and the CLI, in this process (see
`tests/support/bridge.py`); what they did is checked through the app (`tenant.get`), not the SDK.
The installed command's entry point is proven by `tests/client/test_cli_remote.py`.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from callplane.agent_config.changes import Change
from callplane.ascode.apply import apply_plan, plan_file
from callplane.ascode.backend import SdkBackend
from callplane.ascode.model import load_file, normalize_config
from callplane.ascode.plan import Plan, render_plan
from callplane.cli_remote import _common as cli_common
from tests.factories import Tenant
from tests.support.bridge import IN_PROCESS_URL, route_to_app
from tests.support.cli import invoke
from tests.support.processes import closed_port


@pytest.fixture
async def server(app_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> str:
    """The base URL under which the commands and the SDK reach the app in this process."""
    route_to_app(app_client, monkeypatch)
    return IN_PROCESS_URL


def _run_cli(server: str | None, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"CALLPLANE_URL": server, "CALLPLANE_API_KEY": key}
    result = invoke(list(args), {name: value for name, value in env.items() if value is not None})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


async def cli(server: str | None, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """The `callplane` command (in-process), with the URL and credential from the environment."""
    return await asyncio.to_thread(_run_cli, server, key, *args)


def _plan(server: str, key: str, path: Path) -> Plan:
    with cli_common.connect(server, key, None) as client:
        return plan_file(path, SdkBackend(client))


def _apply(server: str, key: str, path: Path) -> dict[str, str]:
    with cli_common.connect(server, key, None) as client:
        backend = SdkBackend(client)
        ids = apply_plan(plan_file(path, backend), backend)
        again = plan_file(path, backend)
    assert not again.has_changes, render_plan(again)  # applying converges
    return ids


async def plan(server: str, tenant: Tenant, path: Path) -> Plan:
    return await asyncio.to_thread(_plan, server, tenant.api_key, path)


async def apply(server: str, tenant: Tenant, path: Path) -> str:
    """Apply a one-agent file and return the agent's id."""
    ids = await asyncio.to_thread(_apply, server, tenant.api_key, path)
    (agent_id,) = ids.values()
    return agent_id


def write_file(path: Path, **agent: Any) -> Path:
    document = {"apiVersion": "callplane/v1", "agents": [{"name": "Front desk", **agent}]}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


async def detail(tenant: Tenant, agent_id: str) -> dict[str, Any]:
    response = await tenant.get(f"/core/agents/{agent_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def slots(tenant: Tenant, number: str) -> tuple[Any, ...]:
    response = await tenant.get(f"/core/phone-numbers/{number}")
    assert response.status_code == 200, response.text
    body = response.json()
    return (
        body["inbound_agent_id"],
        body["inbound_version"],
        body["outbound_agent_id"],
        body["outbound_version"],
    )


async def agents_named(tenant: Tenant, name: str) -> list[dict[str, Any]]:
    response = await tenant.get("/core/agents", params={"name": name, "limit": 100})
    assert response.status_code == 200, response.text
    return [agent for agent in response.json()["data"] if agent["name"] == name]


async def test_cli_apply_creates_publishes_numbers_and_sip_then_is_a_no_op(
    server: str, tenant: Tenant, tmp_path: Path
) -> None:
    inbound, outbound = await tenant.register_number(), await tenant.register_number()
    config = {"instructions": "Answer the main line.", "voice": {"voice_id": "verse"}}
    path = write_file(
        tmp_path / "agents.yaml",
        description="Answers the main line",
        metadata={"team": "support"},
        config=config,
        phone_numbers={"inbound": [inbound], "outbound": [outbound]},
        sip=True,
    )

    planned = await cli(server, tenant.api_key, "plan", "-f", str(path))
    assert planned.returncode == 10, planned.stdout + planned.stderr
    assert '+ agent "Front desk": create' in planned.stdout
    assert await agents_named(tenant, "Front desk") == []  # plan changed nothing

    applied = await cli(server, tenant.api_key, "apply", "-f", str(path))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert applied.stdout.rstrip().endswith("Apply complete.")
    (agent,) = await agents_named(tenant, "Front desk")
    body = await detail(tenant, agent["id"])
    assert body["description"] == "Answers the main line"
    assert body["metadata"] == {"team": "support"}
    assert body["live_version"] == 1
    assert [v["version"] for v in body["versions"]] == [1]
    assert body["sip_endpoint"]["enabled"] is True
    version = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert version["published"] is True
    assert version["config"] == normalize_config(config)
    assert await slots(tenant, inbound) == (agent["id"], 1, None, None)
    assert await slots(tenant, outbound) == (None, None, agent["id"], 1)

    clean = await cli(server, tenant.api_key, "plan", "-f", str(path))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No changes: the server matches the file (1 agent)." in clean.stdout
    again = await cli(server, tenant.api_key, "apply", "-f", str(path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Applying" not in again.stdout
    after = await detail(tenant, agent["id"])
    assert (after["etag"], after["updated_at"], len(after["versions"])) == (
        body["etag"],
        body["updated_at"],
        1,
    )


async def test_editing_instructions_publishes_one_new_version(
    server: str, tenant: Tenant, tmp_path: Path
) -> None:
    number = await tenant.register_number()
    path = tmp_path / "agents.yaml"
    old = {"instructions": "Old instructions.", "max_tool_steps": 4}
    agent_id = await apply(
        server, tenant, write_file(path, config=old, phone_numbers={"inbound": [number]})
    )
    new = {**old, "instructions": "New instructions."}
    write_file(path, config=new, phone_numbers={"inbound": [number]})

    planned = await plan(server, tenant, path)
    (agent,) = planned.agents
    assert agent.agent_id == agent_id and agent.new_version and not agent.field_changes
    assert agent.config_changes == [
        Change("instructions", "changed", "Old instructions.", "New instructions.")
    ]
    assert '        changed instructions: "Old instructions." → "New instructions."' in (
        render_plan(planned)
    )

    assert await apply(server, tenant, path) == agent_id
    body = await detail(tenant, agent_id)
    assert body["live_version"] == 2
    assert [v["version"] for v in body["versions"]] == [2, 1]
    live = (await tenant.get(f"/core/agents/{agent_id}/versions/2")).json()
    assert live["config"] == normalize_config(new)
    assert await slots(tenant, number) == (agent_id, 2, None, None)  # follows the new version


async def test_a_change_made_on_the_server_is_put_back(
    server: str, tenant: Tenant, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "agents.yaml", config={"instructions": "Hi."}, active=True)
    agent_id = await apply(server, tenant, path)
    edit = {"active": False, "description": "Hand-written"}
    response = await tenant.put(f"/core/agents/{agent_id}", json=edit)
    assert response.status_code == 200, response.text

    (agent,) = (await plan(server, tenant, path)).agents
    assert agent.field_changes == {"description": ("Hand-written", None), "active": (False, True)}
    assert not agent.new_version
    await apply(server, tenant, path)
    body = await detail(tenant, agent_id)
    assert (body["active"], body["description"], body["live_version"]) == (True, None, 1)


async def test_numbers_move_between_slots_and_are_released(
    server: str, tenant: Tenant, tmp_path: Path
) -> None:
    kept, dropped = await tenant.register_number(), await tenant.register_number()
    path = tmp_path / "agents.yaml"
    config = {"instructions": "Hi."}
    agent_id = await apply(
        server, tenant, write_file(path, config=config, phone_numbers={"inbound": [kept, dropped]})
    )
    assert await slots(tenant, dropped) == (agent_id, 1, None, None)

    write_file(path, config=config, phone_numbers={"outbound": [kept]})
    (agent,) = (await plan(server, tenant, path)).agents
    assert not agent.new_version
    assert agent.moves("inbound") == ([], sorted([kept, dropped]))
    assert agent.moves("outbound") == ([kept], [])
    await apply(server, tenant, path)

    assert await slots(tenant, kept) == (None, None, agent_id, 1)
    assert await slots(tenant, dropped) == (None, None, None, None)
    body = await detail(tenant, agent_id)
    assert (body["live_version"], len(body["versions"])) == (1, 1)


async def test_export_reproduces_the_agent_and_promotes_it_to_another_org(
    server: str, tenant: Tenant, other_tenant: Tenant, tmp_path: Path
) -> None:
    number = await tenant.register_number()
    instructions = "Promote me.\nNever quote prices.\n\n- Be brief: one idea per sentence.\n"
    config = {"instructions": instructions, "starting_message": "Hello!", "max_tool_steps": 7}
    source = write_file(
        tmp_path / "staging.yaml",
        description="Staging desk",
        metadata={"env": "any"},
        config=config,
        phone_numbers={"inbound": [number]},
        sip=True,
    )
    agent_id = await apply(server, tenant, source)

    exported = tmp_path / "exported.yaml"
    result = await cli(server, tenant.api_key, "export", agent_id, "-o", str(exported))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "    instructions: |\n      Promote me.\n      Never quote prices.\n"
        in exported.read_text()
    )
    (declared,) = load_file(exported)
    assert declared.config == normalize_config(config)
    assert (declared.inbound, declared.outbound, declared.sip) == ((number,), (), True)
    assert (declared.description, declared.metadata) == ("Staging desk", {"env": "any"})
    assert not (await plan(server, tenant, exported)).has_changes  # export matches the server

    # Numbers are per organization (and globally unique): promote without them.
    promoted = tmp_path / "production.yaml"
    result = await cli(server, tenant.api_key, "export", agent_id, "--no-numbers")
    assert result.returncode == 0, result.stderr
    assert "phone_numbers" not in result.stdout
    promoted.write_text(result.stdout, encoding="utf-8")
    production_id = await apply(server, other_tenant, promoted)

    assert production_id != agent_id
    body = await detail(other_tenant, production_id)
    assert (body["name"], body["description"], body["metadata"]) == (
        "Front desk",
        "Staging desk",
        {"env": "any"},
    )
    assert (body["live_version"], body["sip_endpoint"]["enabled"]) == (1, True)
    live = (await other_tenant.get(f"/core/agents/{production_id}/versions/1")).json()
    staging = (await tenant.get(f"/core/agents/{agent_id}/versions/1")).json()
    assert live["config"] == staging["config"]
    assert [a["id"] for a in await agents_named(other_tenant, "Front desk")] == [production_id]
    assert [a["id"] for a in await agents_named(tenant, "Front desk")] == [agent_id]
    assert await slots(tenant, number) == (agent_id, 1, None, None)  # staging is untouched


async def test_bad_files_exit_2_and_change_nothing(
    server: str, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: callplane/v1\nagents:\n"
        "  - name: Front desk\n    config: {max_tool_steps: 0}\n",
        encoding="utf-8",
    )
    for command in ("plan", "apply"):
        result = await cli(server, tenant.api_key, command, "-f", str(path))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{path}: invalid agents file:" in result.stderr
        assert "agents[0].config.max_tool_steps: Input should be greater than or equal to 1" in (
            result.stderr
        )

    registered = await tenant.register_number()
    other = await tenants_number_elsewhere(tenant)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "callplane/v1",
                "agents": [
                    {"name": "First", "config": {}, "phone_numbers": {"inbound": [registered]}},
                    {"name": "Second", "config": {}, "phone_numbers": {"outbound": [other]}},
                ],
            }
        ),
        encoding="utf-8",
    )
    result = await cli(server, tenant.api_key, "apply", "-f", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not registered in this organization (register them first): " + other in result.stderr
    assert await agents_named(tenant, "First") == []
    assert await slots(tenant, registered) == (None, None, None, None)

    result = await cli(server, None, "plan", "-f", str(path))
    assert result.returncode == 2
    assert "error: no API key: set CALLPLANE_API_KEY or pass --api-key" in result.stderr


async def tenants_number_elsewhere(tenant: Tenant) -> str:
    """A number registered in another organization: to `tenant`, it does not exist."""
    from tests.factories import TenantFactory

    stranger = await TenantFactory(tenant.database, tenant.client).create()
    return await stranger.register_number()


async def test_a_rejected_write_exits_1(server: str, tenant: Tenant, tmp_path: Path) -> None:
    path = write_file(tmp_path / "agents.yaml", config={"instructions": "Hi."})
    read_only = (await tenant.key_with("agents:read", "phone_numbers:read"))["Authorization"]
    flags = ["--url", server, "--api-key", read_only.removeprefix("Bearer ")]
    result = await cli(None, None, "apply", "-f", str(path), *flags)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: the server refused: 403" in result.stderr
    assert "apply stopped" in result.stderr
    assert await agents_named(tenant, "Front desk") == []


async def test_an_unreachable_server_exits_1(tmp_path: Path) -> None:
    path = write_file(tmp_path / "agents.yaml", config={})
    with closed_port() as port:
        result = await cli(f"http://127.0.0.1:{port}", "ak_unused", "plan", "-f", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: cannot reach the server: http://127.0.0.1:")
