"""The SDK's tests/test_runs/analytics and `callplane test` (in-process, offline model)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from callplane.agenttests import runner
from callplane.cli_remote import _common as cli_common
from tests.factories import Tenant
from tests.support.bridge import IN_PROCESS_URL, route_to_app
from tests.support.cli import Cli

CONFIG = {"instructions": "Greet.", "starting_message": "Welcome to Acme."}


@pytest.fixture(autouse=True)
def offline(client: httpx.AsyncClient) -> Iterator[None]:
    runner.pin_live_runtime(client.app.state.live_runtime)  # type: ignore[attr-defined]
    yield
    runner.pin_live_runtime(None)


async def test_callplane_test_reports_each_test_and_fails_ci(cli: Cli, tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config=CONFIG)
    base = f"/core/agents/{agent['id']}/tests"
    for name, text in [("greets", "Welcome"), ("quotes prices", "$")]:
        created = await tenant.post(
            base,
            json={
                "name": name,
                "turns": ["Hi"],
                "expectations": [{"type": "reply_contains", "text": text}],
            },
        )
        assert created.status_code == 201
    result = await cli("test", agent["id"], expect=1)
    assert "✓ greets (passed)" in result.stderr
    assert "✗ quotes prices (failed): expectation 0 (reply_contains)" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "status", "reason", "seconds"]
    assert lines[-1].startswith("failed: 1 passed, 1 failed, 0 errors, 0 skipped")

    run = await cli.json("test", agent["id"], "--version", "1", "--test", "greets")
    assert run["status"] == "passed" and run["tests"] == 1
    assert run["results"][0]["expectations"][0]["status"] == "passed"

    missing = await cli("test", agent["id"], "--test", "nope", expect=1)
    assert "nope" in missing.stderr


async def test_the_sdk_drives_tests_runs_and_analytics(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, app_client: httpx.AsyncClient
) -> None:
    route_to_app(app_client, monkeypatch)
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"], config=CONFIG)

    def work() -> None:
        with cli_common.connect(IN_PROCESS_URL, tenant.api_key, None) as sdk:
            test = sdk.tests.create(
                agent["id"],
                name="greets",
                turns=["Hi"],
                expectations=[{"type": "reply_contains", "text": "Welcome"}],
            )
            assert [t.name for t in sdk.tests.list(agent["id"])] == ["greets"]
            assert sdk.tests.require_passing_tests(agent["id"]).require_passing_tests
            run = sdk.test_runs.wait(sdk.test_runs.start(agent["id"], 1).id, timeout=120)
            assert run.status == "passed" and run.results and run.results[0].test_id == test.id
            assert [r.id for r in sdk.test_runs.list(agent["id"], version=1)] == [run.id]
            sdk.agents.versions.publish(agent["id"], 1)  # the gate is open
            stats = sdk.analytics.conversations(agent_id=agent["id"], interval="week")
            assert stats.interval == "week" and sum(b.total for b in stats.buckets) == 0
            sdk.tests.delete(agent["id"], test.id)

    await asyncio.to_thread(work)
    assert version["version"] == 1
