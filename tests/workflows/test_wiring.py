"""One place wires a process (callplane.wiring): importing a domain module registers nothing, and
only the workflow engine talks to DBOS."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import callplane

SOURCE = Path(callplane.__file__).parent
ENGINE = SOURCE / "workflows" / "engine.py"

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
expected = {"generate_instructions", "create_from_website", "create_demo", "deliver"}
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


def test_only_the_engine_imports_dbos_and_never_its_private_modules() -> None:
    importers = {
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if any(name == "dbos" or name.startswith("dbos.") for name in _imports(path))
    }
    assert importers == {"workflows/engine.py"}
    assert not any(name.startswith("dbos._") for name in _imports(ENGINE))
