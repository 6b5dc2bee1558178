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

from callplane.ascode.model import SLOTS, load_file
from callplane.ascode.plan import AgentPlan, Backend, Plan, compute_plan, read_state


def plan_file(path: Path | str, backend: Backend) -> Plan:
    """Load the file, read the server, and compute the plan (FileError/PlanError on problems)."""
    desired = load_file(path)
    return compute_plan(desired, read_state(backend, desired))


def apply_plan(
    plan: Plan, backend: Backend, log: Callable[[str], None] = lambda _: None
) -> dict[str, str]:
    """Execute every agent's changes; returns {agent name: agent id} for the file's agents."""
    ids: dict[str, str] = {}
    for agent in plan.agents:
        ids[agent.name] = _apply_agent(agent, backend, log)
    return ids


def _apply_agent(plan: AgentPlan, backend: Backend, log: Callable[[str], None]) -> str:
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
    if not plan.publishes:
        _apply_sip(plan, agent_id, backend, log)
        return agent_id

    if plan.new_version:
        version = backend.create_version(agent_id, desired.config)
        log(f'created version {version} of "{desired.name}"')
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
