"""Every action a service records is in the catalogue subscriptions are validated against."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import callplane
from callplane.audit.actions import ACTIONS
from callplane.webhooks.events import matches, pattern_problem

SOURCE = Path(callplane.__file__).parent
ACTION = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def recorded_actions() -> tuple[set[str], set[str]]:
    """String arguments of calls to `record`/`_record` helpers that look like actions, and the
    constant prefixes of f-string ones (`f"workflow.{status}"`)."""
    literals: set[str] = set()
    prefixes: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name not in ("record", "_record"):
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if ACTION.match(arg.value):
                        literals.add(arg.value)
                elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                    prefixes.add(str(arg.values[0].value))
    return literals, prefixes


def test_recorded_actions_are_catalogued() -> None:
    literals, prefixes = recorded_actions()
    assert len(literals) > 20, "the scan found suspiciously few actions"
    assert literals - set(ACTIONS) == set()
    for prefix in prefixes:
        assert any(action.startswith(prefix) for action in ACTIONS), prefix
    assert {"workflow.succeeded", "workflow.failed"} <= set(ACTIONS)  # f"workflow.{status}"


def test_patterns() -> None:
    assert pattern_problem("*") is None
    assert pattern_problem("agent.*") is None and pattern_problem("agent.version.*") is None
    assert pattern_problem("agent.created") is None
    for bad in ("agent", "agent.", "agent.nope", "agents.*", "*.created", ".*", "**", ""):
        assert pattern_problem(bad) is not None, bad
    assert matches(["agent.*"], "agent.version.published")
    assert not matches(["agent.*"], "agents.created")
    assert not matches(["agent.version.*"], "agent.created")
    assert matches(["phone_number.created", "*"], "api_key.revoked")
    assert not matches([], "agent.created")


def test_the_docs_list_every_event() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    assert [action for action in ACTIONS if f"| `{action}` |" not in docs] == []
