"""One place wires a process (callplane.wiring): importing a domain module registers nothing, and
only the workflow engine talks to DBOS."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dbos import DBOS

import callplane
from callplane.workflows import engine
from tests.factories import Tenant
from tests.webhooks.helpers import create_webhook, deliveries

SOURCE = Path(callplane.__file__).parent

PROBE = """
import callplane.scaffolding.workflow, callplane.versions.generation
import callplane.webhooks.delivery, callplane.webhooks.fanout
from callplane.audit import recorder
from callplane.workflows import engine, steps, service
from dbos._dbos import _get_or_create_dbos_registry

def durable() -> set[str]:
    names = _get_or_create_dbos_registry().workflow_info_map
    return {name for name in names if not name.startswith("<temp>.")}

assert recorder._listeners == [], recorder._listeners
assert service._cancel_hooks == {}, service._cancel_hooks
assert durable() == set(), durable()

from callplane import wiring
wiring.install()
wiring.install()  # idempotent
assert recorder._listeners == [callplane.webhooks.fanout.fan_out], recorder._listeners
assert list(service._cancel_hooks) == ["generate_instructions"]
assert len(steps._transaction_hooks) == 1
# The names stored with every run: existing runs resolve only while these stay the same.
expected = {
    "generate_instructions",
    "create_from_website",
    "create_demo",
    "deliver",
    "analyze_conversations",
    "conversation_call",
    "agent_test_run",
    "knowledge_crawl",
    "knowledge_refresh",
    "knowledge_embed",
    "knowledge_refresh_schedule",
}
assert durable() == expected, durable()
assert all(engine.knows(name) for name in expected)
print("ok")
"""


def test_imports_register_nothing_and_the_wiring_installs_everything() -> None:
    """In a fresh interpreter, as a process that happens not to import the wiring would be."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stderr[-3000:]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_engine_imports_dbos_and_only_the_jobs_lock_its_private_modules() -> None:
    """The one exception: job_lock.py replaces the method of DBOS's PostgreSQL system database
    that holds a transaction open (its docstring says why); dbos is pinned below 3.5 for it."""
    importers = {
        str(path.relative_to(SOURCE)): _imports(path)
        for path in SOURCE.rglob("*.py")
        if any(name == "dbos" or name.startswith("dbos.") for name in _imports(path))
    }
    assert set(importers) == {"workflows/engine.py", "workflows/job_lock.py"}
    assert not any(name.startswith("dbos._") for name in importers["workflows/engine.py"])
    private = {name for name in importers["workflows/job_lock.py"] if name.startswith("dbos")}
    assert private == {"dbos._sys_db_postgres"}


async def test_a_cli_command_fans_its_events_out_to_webhooks(
    tenant: Tenant, database_url: str
) -> None:
    """`callplane keys create` records `api_key.created` in a process of its own, with no app:
    the subscription gets its delivery (a worker's sweep sends it)."""
    webhook = await create_webhook(tenant, "http://127.0.0.1:9/", ["api_key.created"])
    command = [sys.executable, "-c", "from callplane.cli import main; main()", "keys", "create"]
    options = ["--org", str(tenant.organization_id), "--name", "ci", "--scopes", "agents:read"]
    created = await asyncio.to_thread(
        subprocess.run,
        [*command, *options, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CALLPLANE_DATABASE_URL": database_url},
    )
    assert created.returncode == 0, created.stderr[-3000:]
    assert [d["event_type"] for d in await deliveries(tenant, webhook["id"])] == ["api_key.created"]


VERSION_PROBE = (
    "from callplane import wiring\n"
    "from callplane.workflows import engine\n"
    "wiring.install()\n"
    "print(engine.application_version())\n"
)


async def test_every_process_of_this_code_launches_under_one_application_version(
    app_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DBOS hands scheduled ticks to the latest version registered: a process of the same code
    launching under another version (DBOS's own hash counts what it registered on demand) left
    every other process's ticks unrun. The version is our workflows' names and sources."""
    probe = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", VERSION_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == engine.application_version() == DBOS.application_version
    other_code = test_imports_register_nothing_and_the_wiring_installs_everything
    monkeypatch.setitem(engine._bodies, "another_workflow", other_code)  # type: ignore[arg-type]
    assert engine.application_version() != probe.stdout.strip()
