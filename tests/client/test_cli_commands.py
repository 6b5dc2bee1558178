"""The CLI's commands for the rest of the API (in-process): workflows with live progress, widgets,
conversations, webhooks, audit and rollback. Each: its happy path and an error."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from callplane.cli import app
from callplane.cli_remote import _common as cli_common
from callplane.cli_remote import _progress
from callplane.client import Client
from callplane.workflows.schemas import WorkflowRead
from tests.factories import Tenant
from tests.scaffolding.conftest import dental_site
from tests.support.cli import Cli
from tests.support.site import LocalSite, Route

Serve = Callable[[dict[str, Route]], LocalSite]
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (queued|running|succeeded|failed|cancelled)(: .+)?$")


def progress_lines(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert lines and all(PROGRESS.match(line) for line in lines), stderr
    return lines


async def test_create_from_website_waits_showing_each_step(cli: Cli, serve: Serve) -> None:
    site = serve(dental_site())
    result = await cli(
        "agents", "create-from-website", site.url, "--company-name", "Acme Dental", "--wait"
    )
    lines = progress_lines(result.stderr)  # not a terminal: one plain line per change
    assert lines[-1] == "[5/5] succeeded: Done"
    completed = [int(PROGRESS.match(line)[1]) for line in lines]  # type: ignore[index]
    assert completed == sorted(completed)
    assert "status:" in result.stdout and "succeeded" in result.stdout
    assert '"agent_id"' in result.stdout  # the result, on stdout


async def test_create_from_website_refuses_a_bad_site(cli: Cli) -> None:
    bad = await cli(
        "agents", "create-from-website", "ftp://x", "--company-name", "X", "--wait", expect=1
    )
    assert bad.stderr.startswith("validation_error: body.company_website: ")


async def test_create_demo_then_workflows_wait_and_list(cli: Cli, serve: Serve) -> None:
    site = serve(dental_site())
    started = await cli.json("agents", "create-demo", site.url, "--instructions", "Be brief.")
    workflow_id = started["workflow_id"]
    waited = await cli("workflows", "wait", workflow_id, "--timeout", "60", "--json")
    run = json.loads(waited.stdout)  # stdout holds only the JSON; progress went to stderr
    assert (run["workflow_id"], run["status"], run["type"]) == (
        workflow_id,
        "succeeded",
        "create_demo",
    )
    assert progress_lines(waited.stderr)[-1] == "[5/5] succeeded: Done"

    listed = await cli.json("workflows", "list", "--type", "create_demo")
    assert workflow_id in [r["workflow_id"] for r in listed]
    table = (await cli("workflows", "list", "--type", "create_demo")).stdout.splitlines()
    assert table[0].split() == [
        "workflow_id",
        "type",
        "status",
        "step",
        "created_at",
        "finished_at",
    ]
    assert any(line.startswith(workflow_id) and "[5/5] succeeded: Done" in line for line in table)
    bad = await cli("workflows", "list", "--status", "sleeping", expect=1)
    assert bad.stderr.startswith("validation_error: query.status: ")
    await cli("workflows", "wait", "no-such-workflow", expect=3)
    await cli("workflows", "cancel", workflow_id, expect=4)  # finished: nothing to cancel


async def test_generate_instructions_with_and_without_wait(cli: Cli, tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Generated")
    await tenant.create_version(
        agent["id"], config={}, instruction_builder_inputs={"company_name": "Acme Dental"}
    )
    waited = await cli("versions", "generate-instructions", agent["id"], "1", "--wait", "--json")
    assert json.loads(waited.stdout)["status"] == "succeeded"
    assert progress_lines(waited.stderr)[-1].startswith("[")
    human = await cli("versions", "generate-instructions", agent["id"], "1")
    workflow_id = human.stdout.split()[1]
    assert human.stdout == (
        f"workflow {workflow_id} started; follow it with: callplane workflows wait {workflow_id}\n"
    )
    await cli("workflows", "wait", workflow_id)
    missing = await cli("versions", "generate-instructions", str(uuid.uuid4()), "1", expect=3)
    assert missing.stderr.startswith("agent_not_found: ")


async def test_widgets(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    agent, version = await tenant.published_agent()
    unpublished = await tenant.create_agent(name="Never published")
    refused = await cli("widgets", "create", unpublished["id"], expect=2)
    assert refused.stderr == (
        f"agent {unpublished['id']} has no live version: publish one, or give --version\n"
    )

    appearance = tmp_path / "widget.json"
    appearance.write_text(json.dumps({"title": "Ask us"}))
    widget = await cli.json(
        "widgets", "create", agent["id"], "--domain", "acme.example", "--config", str(appearance)
    )
    assert widget["agent_version_id"] == version["id"]  # the live version, by default
    assert (widget["domains"], widget["config"], widget["published"]) == (
        ["acme.example"],
        {"title": "Ask us"},
        False,
    )
    listed = await cli("widgets", "list", "--agent", agent["id"])
    assert widget["id"] in listed.stdout and "acme.example" in listed.stdout
    updated = await cli.json("widgets", "update", widget["id"], "--published", "--version", "1")
    assert updated["published"] is True and updated["agent_version_id"] == version["id"]
    assert (await cli.json("widgets", "get", widget["id"]))["published"] is True
    await cli("widgets", "update", widget["id"], expect=2)  # nothing to change
    await cli("widgets", "delete", widget["id"])
    gone = await cli("widgets", "get", widget["id"], expect=3)
    assert gone.stderr.startswith("widget_not_found: ")


async def test_conversations_import_list_get(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    agent = await tenant.create_agent(name="Importer")
    records = [
        {
            "agent_id": agent["id"],
            "channel": "telephone",
            "direction": "inbound",
            "status": "completed",
            "duration_seconds": 42,
            "summary": "Booked a cleaning.",
        },
        {"agent_id": agent["id"], "channel": "text", "status": "abandoned"},
    ]
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"conversations": records}))
    result = await cli("conversations", "import", str(path))
    assert result.stdout == "imported 2 conversations\n"
    from_stdin = await cli.json("conversations", "import", "-", input=json.dumps(records[:1]))
    assert from_stdin["imported"] == 1

    listed = await cli.json("conversations", "list", "--agent", agent["id"], "--channel", "text")
    assert [c["status"] for c in listed] == ["abandoned"]
    everything = await cli.json("conversations", "list", "--agent", agent["id"])
    assert len(everything) == 3
    one = next(c for c in everything if c["duration_seconds"] == 42)
    shown = (await cli("conversations", "get", one["id"])).stdout
    assert "Booked a cleaning." in shown and "telephone" in shown

    path.write_text(json.dumps([{"channel": "pigeon", "status": "completed"}]))
    invalid = await cli("conversations", "import", str(path), expect=1)
    assert invalid.stderr.startswith("validation_error: body.conversations.0.channel: ")
    path.write_text("{not json")
    await cli("conversations", "import", str(path), expect=2)
    await cli("conversations", "get", str(uuid.uuid4()), expect=3)


async def test_webhooks(cli: Cli, tenant: Tenant) -> None:
    await cli("webhooks", "create", "https://hooks.example/x", expect=2)  # no --event
    created = await cli(
        "webhooks",
        "create",
        "http://127.0.0.1:9/hooks",
        "--event",
        "agent.*",
        "--description",
        "CI",
    )
    assert "secret:" in created.stdout and "not shown again" in created.stderr
    webhooks = await cli.json("webhooks", "list")
    (webhook,) = webhooks
    assert (webhook["events"], webhook["description"]) == (["agent.*"], "CI")
    assert "secret" not in webhook

    changed = await cli.json(
        "webhooks", "update", webhook["id"], "--event", "agent.created", "--inactive"
    )
    assert (changed["events"], changed["active"]) == (["agent.created"], False)
    moved = await cli.json("webhooks", "update", webhook["id"], "--webhook-url", "http://a.test/")
    assert moved["url"] == "http://a.test/"
    await cli("webhooks", "update", webhook["id"], expect=2)
    rotated = await cli.json("webhooks", "rotate-secret", webhook["id"])
    assert rotated["secret"] and rotated["id"] == webhook["id"]
    assert (await cli.json("webhooks", "get", webhook["id"]))["active"] is False

    await cli.json("webhooks", "update", webhook["id"], "--active")
    await tenant.create_agent(name="Announced")  # an agent.created event: one delivery
    (delivery,) = await cli.json("webhooks", "deliveries", webhook["id"])
    assert delivery["event_type"] == "agent.created"
    again = await cli.json("webhooks", "redeliver", webhook["id"], delivery["id"])
    assert again["event_id"] == delivery["event_id"] and again["id"] != delivery["id"]
    table = (await cli("webhooks", "deliveries", webhook["id"])).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "event_type", "status"] and len(table) == 3
    await cli("webhooks", "redeliver", webhook["id"], str(uuid.uuid4()), expect=3)

    await cli("webhooks", "delete", webhook["id"])
    gone = await cli("webhooks", "get", webhook["id"], expect=3)
    assert gone.stderr.startswith("webhook_not_found: ")


async def test_audit_list(cli: Cli, tenant: Tenant) -> None:
    agent = await tenant.create_agent(name="Audited")
    await tenant.put(f"/core/agents/{agent['id']}", json={"name": "Audited again"})
    events = await cli.json("audit", "list", "--resource-id", agent["id"])
    assert [e["action"] for e in events] == ["agent.updated", "agent.created"]
    only = await cli.json("audit", "list", "--action", "agent.created", "--since", "2000-01-01")
    assert agent["id"] in [e["resource_id"] for e in only]
    table = (await cli("audit", "list", "--resource-id", agent["id"])).stdout.splitlines()
    assert table[0].split() == [
        "created_at",
        "action",
        "resource_type",
        "resource_id",
        "actor",
        "changes",
    ]
    assert "agent.updated" in table[1] and "api_key:" in table[1]
    bad = await cli("audit", "list", "--since", "yesterday-ish", expect=1)
    assert bad.stderr.startswith("validation_error: query.created_after: ")


async def test_rollback_sends_the_version_and_shows_the_moved_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request the CLI (through the SDK) sends and how it shows the answer, on a scripted
    transport."""
    seen: list[httpx.Request] = []
    moved = [
        {"phone_number": "+14155550100", "direction": "inbound", "from_version": 3, "to_version": 2}
    ]
    answer_body = {
        "agent_id": str(uuid.uuid4()),
        "version": 2,
        "agent_version_id": str(uuid.uuid4()),
        "previous_live_version": 3,
        "changed": moved,
    }

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/missing/rollback"):
            return httpx.Response(
                404, json={"detail": "Agent not found", "code": "agent_not_found"}
            )
        return httpx.Response(200, json=answer_body)

    def connect(url: str | None, api_key: str | None, org: str | None) -> Client:
        return Client(url, api_key, org, transport=httpx.MockTransport(answer))

    monkeypatch.setattr(cli_common, "connect", connect)
    runner = CliRunner()
    env = {"CALLPLANE_URL": "http://api.test", "CALLPLANE_API_KEY": "ak_test"}
    result = runner.invoke(app, ["agents", "rollback", "a1", "--to-version", "2"], env=env)
    assert result.exit_code == 0, result.output
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/core/agents/a1/rollback")
    assert json.loads(request.content) == {"to_version": 2}
    assert request.headers["Idempotency-Key"]
    lines = result.stdout.splitlines()
    assert lines[0] == "agent a1: version 2 is live"
    assert lines[1].split() == ["phone_number", "direction", "from_version", "to_version"]
    assert lines[2].split() == ["+14155550100", "inbound", "3", "2"]
    as_json = runner.invoke(app, ["agents", "rollback", "a1", "--to", "2", "--json"], env=env)
    assert json.loads(as_json.stdout) == answer_body
    missing = runner.invoke(app, ["agents", "rollback", "missing", "--to", "1"], env=env)
    assert missing.exit_code == 3 and missing.stderr.startswith("agent_not_found: ")
    assert runner.invoke(app, ["agents", "rollback", "a1", "--to", "0"], env=env).exit_code == 2


async def test_rollback_against_the_server(cli: Cli, tenant: Tenant) -> None:
    """Against the server: version 1 live again, the number moved back to it."""
    agent, _ = await tenant.published_agent()
    number = await tenant.register_number()
    await tenant.create_version(agent["id"], config={"instructions": "Second."})
    published = await tenant.publish(agent["id"], 2, phone_numbers=[number])
    assert published.status_code == 200, published.text
    result = await cli("agents", "rollback", agent["id"], "--to-version", "1")
    assert result.stdout.startswith(f"agent {agent['id']}: version 1 is live")
    assert number in result.stdout
    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    assert detail["live_version"] == 1
    slots = (await tenant.get(f"/core/phone-numbers/{number}")).json()
    assert (slots["inbound_agent_id"], slots["inbound_version"]) == (agent["id"], 1)
    await cli("agents", "rollback", agent["id"], "--to-version", "9", expect=3)


def test_on_a_terminal_progress_is_a_live_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: behave as on a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    step = {"step": "write", "message": "Writing the instructions", "total_steps": 5}
    run = {
        "workflow_id": "w1",
        "type": "create_demo",
        "status": "running",
        "progress": {**step, "completed_steps": 2},
        "result": None,
        "error": None,
        "attempts": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": None,
        "finished_at": None,
    }
    with _progress._reporter() as report:
        report(WorkflowRead.model_validate(run))
    shown = capsys.readouterr().err
    assert "\x1b[" in shown  # drawn with control sequences, not plain lines
    assert "Writing the instructions" in shown and "2/5" in shown
    assert "[2/5] running" not in shown
