"""Carry out a Plan through a Backend, agent by agent, in the order the server requires.

Per agent: create it or update its fields; create the new version; publish (the new version, or
the live one again when only numbers move) once per slot whose numbers change, so each slot is
written atomically; then deploy or remove SIP (deploying needs a published version).

Not one transaction across agents: if a call fails, the agents before it are done and the rest
are not; running `apply` again finishes the job (the plan is recomputed from the server).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from callplane.ascode.model import SLOTS, load_file
from callplane.ascode.plan import AgentPlan, Backend, Plan, compute_plan, read_state


def plan_file(path: Path | str, backend: Backend) -> Plan:
    """Load the file, read the server, and compute the plan (FileError/PlanError on problems)."""
    desired = load_file(path)
    return compute_plan(desired, read_state(backend, desired))


class TestsFailed(Exception):
    """`apply --test`: a new draft's tests did not pass; it was not published."""

    __test__ = False

    def __init__(self, agent: str, version: int, run: Any):
        self.run = run
        failing = [r for r in (run.results or []) if r.status in ("failed", "error")]
        lines = [f'tests of "{agent}" v{version} {run.status} (run {run.id}); not published:']
        lines += [f"  ✗ {r.name}: {r.reason}" for r in failing]
        super().__init__("\n".join(lines))


def apply_plan(
    plan: Plan,
    backend: Backend,
    log: Callable[[str], None] = lambda _: None,
    *,
    run_tests: bool = False,
) -> dict[str, str]:
    """Execute every agent's changes; returns {agent name: agent id} for the file's agents.
    With `run_tests`, each new version's tests run against it (a draft) before it is
    published, and the first failure stops everything (`TestsFailed`)."""
    ids: dict[str, str] = {}
    for agent in plan.agents:
        ids[agent.name] = _apply_agent(agent, backend, log, run_tests)
    return ids


def _apply_tests(plan: AgentPlan, agent_id: str, backend: Any, log: Callable[[str], None]) -> None:
    for name, test_id in plan.tests_delete.items():
        backend.delete_test(agent_id, test_id)
        log(f'deleted test "{name}"')
    for name, (test_id, definition) in plan.tests_replace.items():
        backend.replace_test(agent_id, test_id, definition)
        log(f'replaced test "{name}"')
    for name, definition in plan.tests_create.items():
        backend.create_test(agent_id, definition)
        log(f'created test "{name}"')


def _apply_agent(
    plan: AgentPlan, backend: Backend, log: Callable[[str], None], run_tests: bool = False
) -> str:
    desired = plan.desired
    if plan.agent_id is None:
        agent_id = backend.create_agent(
            name=desired.name,
            description=desired.description,
            active=desired.active,
            is_demo=desired.is_demo,
            metadata=desired.metadata,
        )
        log(f'created agent "{desired.name}" ({agent_id})')
    else:
        agent_id = plan.agent_id
        if plan.field_changes:
            fields = {name: after for name, (_, after) in plan.field_changes.items()}
            backend.update_agent(agent_id, fields)
            log(f'updated agent "{desired.name}": {", ".join(fields)}')
    if plan.test_changes:
        _apply_tests(plan, agent_id, backend, log)
    if not plan.publishes:
        _apply_sip(plan, agent_id, backend, log)
        return agent_id

    if plan.new_version:
        version = backend.create_version(agent_id, desired.config)
        log(f'created version {version} of "{desired.name}"')
        if run_tests:
            run = backend.run_tests(agent_id, version)  # type: ignore[attr-defined]
            if run is None:
                log(f'no tests for "{desired.name}": nothing to run')
            elif run.status != "passed":
                raise TestsFailed(desired.name, version, run)
            else:
                log(f"tests of v{version} passed ({run.passed} passed, {run.skipped} skipped)")
    else:
        assert plan.live_version is not None  # numbers move only onto a live version
        version = plan.live_version
    published = False
    for slot in SLOTS:
        assign, unassign = plan.moves(slot)
        if assign or unassign:
            backend.publish(agent_id, version, assign=assign, unassign=unassign, direction=slot)
            published = True
            log(f'published v{version} of "{desired.name}" ({_moves(slot, assign, unassign)})')
    if not published:
        backend.publish(agent_id, version, assign=[], unassign=[], direction="inbound")
        log(f'published v{version} of "{desired.name}"')
    _apply_sip(plan, agent_id, backend, log)
    return agent_id


def _moves(slot: str, assign: list[str], unassign: list[str]) -> str:
    """`inbound: assigned +14155550100; unassigned +14155550101` (numbers carry their own `+`)."""
    parts = [
        f"{verb} {', '.join(numbers)}"
        for verb, numbers in (("assigned", assign), ("unassigned", unassign))
        if numbers
    ]
    return f"{slot}: {'; '.join(parts)}"


def _apply_sip(
    plan: AgentPlan, agent_id: str, backend: Backend, log: Callable[[str], None]
) -> None:
    if plan.sip == "deploy":
        backend.deploy_sip(agent_id)
        log(f'deployed SIP for "{plan.name}"')
    elif plan.sip == "remove":
        backend.remove_sip(agent_id)
        log(f'removed SIP of "{plan.name}"')
