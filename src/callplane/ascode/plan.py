"""Compute what must change on the server so that it matches an agents file.

The planner is pure: it compares the file's agents (`DesiredAgent`) with a snapshot of the server
(`ServerState`, read through a `Backend`) and returns a `Plan`. Nothing here writes.

Rules, per declared agent (agents are matched by exact name; server agents the file does not name
are never touched):

- no agent with that name → create it; more than one → error (the match would be a guess);
- agent fields (`description`, `active`, `is_demo`, `metadata`) → update those that differ;
- config → a new version when the file's config (normalized) differs from the live version's,
  or when there is no live version; the new version is then published (made live);
- numbers, per slot (inbound/outbound): assign the ones listed whose slot does not already hold
  this agent's live version (all of them, when a new version is published), unassign the ones
  whose slot holds this agent but are not listed;
- `sip` → deploy or remove the SIP endpoint when it differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from callplane.agent_config.changes import Change
from callplane.ascode.model import SLOTS, DesiredAgent, normalize_config
from callplane.kit.text import plural
from callplane.versions.diff import diff_configs

AGENT_FIELDS = ("description", "active", "is_demo", "metadata")


@dataclass(frozen=True)
class RemoteNumber:
    """A registered phone number and who holds its two slots (agent id and version number)."""

    phone_number: str
    inbound_agent_id: str | None = None
    inbound_version: int | None = None
    outbound_agent_id: str | None = None
    outbound_version: int | None = None

    def holder(self, slot: str) -> tuple[str | None, int | None]:
        if slot == "inbound":
            return self.inbound_agent_id, self.inbound_version
        return self.outbound_agent_id, self.outbound_version


@dataclass(frozen=True)
class RemoteAgent:
    """An agent as the server has it, with what the planner and `export` need."""

    id: str
    name: str
    description: str | None = None
    active: bool = True
    is_demo: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    live_version: int | None = None
    live_config: dict[str, Any] | None = None
    newest_config: dict[str, Any] | None = None  # only read when there is no live version
    sip_enabled: bool = False
    held_numbers: tuple[RemoteNumber, ...] = ()  # numbers with a slot holding this agent
    # The agent's tests by name: (test id, definition as AgentTestCreate fields); None: unknown.
    tests: dict[str, tuple[str, dict[str, Any]]] | None = None


@dataclass(frozen=True)
class ServerState:
    agents: dict[str, list[RemoteAgent]]  # by exact name, for the names the file declares
    numbers: dict[str, RemoteNumber | None]  # the file's numbers; None: not registered here


class Backend(Protocol):
    """The few server operations agents-as-code needs (see `callplane.ascode.backend`)."""

    def find_agents(self, name: str) -> list[RemoteAgent]: ...

    def get_agent(self, agent_id: str) -> RemoteAgent: ...

    def get_number(self, number: str) -> RemoteNumber | None: ...

    def create_agent(
        self,
        *,
        name: str,
        description: str | None,
        active: bool,
        is_demo: bool,
        metadata: dict[str, Any],
    ) -> str: ...

    def update_agent(self, agent_id: str, fields: dict[str, Any]) -> None: ...

    def create_version(self, agent_id: str, config: dict[str, Any]) -> int: ...

    def publish(
        self,
        agent_id: str,
        version: int,
        *,
        assign: Sequence[str],
        unassign: Sequence[str],
        direction: str,
    ) -> None: ...

    def deploy_sip(self, agent_id: str) -> None: ...

    def remove_sip(self, agent_id: str) -> None: ...


class PlanError(ValueError):
    """The file cannot be applied to this server (ambiguous names, unregistered numbers)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"the file cannot be applied to this organization:\n{lines}")


@dataclass(frozen=True)
class NumberMove:
    slot: str
    number: str
    holder: tuple[str | None, int | None]  # the slot's current (agent id, version)


@dataclass
class AgentPlan:
    desired: DesiredAgent
    agent_id: str | None  # None: the agent is created
    field_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    new_version: bool = False
    config_changes: list[Change] = field(default_factory=list)
    live_version: int | None = None  # the current live version (publishing target w/o new one)
    assign: list[NumberMove] = field(default_factory=list)
    unassign: list[NumberMove] = field(default_factory=list)
    sip: Literal["deploy", "remove"] | None = None
    # Tests to create (definitions), replace ((id, definition)), delete (ids), by name.
    tests_create: dict[str, dict[str, Any]] = field(default_factory=dict)
    tests_replace: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    tests_delete: dict[str, str] = field(default_factory=dict)

    @property
    def test_changes(self) -> bool:
        return bool(self.tests_create or self.tests_replace or self.tests_delete)

    @property
    def name(self) -> str:
        return self.desired.name

    @property
    def create(self) -> bool:
        return self.agent_id is None

    @property
    def publishes(self) -> bool:
        return self.new_version or bool(self.assign or self.unassign)

    @property
    def has_changes(self) -> bool:
        return (
            self.create
            or bool(self.field_changes)
            or self.publishes
            or self.sip is not None
            or self.test_changes
        )

    def moves(self, slot: str) -> tuple[list[str], list[str]]:
        """(numbers to assign, numbers to unassign) in one slot."""
        return (
            [m.number for m in self.assign if m.slot == slot],
            [m.number for m in self.unassign if m.slot == slot],
        )


@dataclass
class Plan:
    agents: list[AgentPlan]

    @property
    def has_changes(self) -> bool:
        return any(agent.has_changes for agent in self.agents)


def read_state(backend: Backend, desired: Sequence[DesiredAgent]) -> ServerState:
    """Snapshot what the file's agents and numbers look like on the server."""
    agents = {agent.name: backend.find_agents(agent.name) for agent in desired}
    wanted = [n for agent in desired for slot in SLOTS for n in agent.numbers(slot)]
    numbers = {number: backend.get_number(number) for number in dict.fromkeys(wanted)}
    return ServerState(agents=agents, numbers=numbers)


def compute_plan(desired: Sequence[DesiredAgent], state: ServerState) -> Plan:
    """The changes that make the server match the file; PlanError if it cannot."""
    problems: list[str] = []
    for agent in desired:
        matches = state.agents.get(agent.name, [])
        if len(matches) > 1:
            ids = ", ".join(match.id for match in matches)
            problems.append(
                f"agent {agent.name!r}: {len(matches)} agents on the server have this name "
                f"({ids}); rename all but one so the file matches exactly one"
            )
    unregistered = [number for number, record in state.numbers.items() if record is None]
    if unregistered:
        problems.append(
            "phone numbers not registered in this organization (register them first): "
            + ", ".join(unregistered)
        )
    if problems:
        raise PlanError(problems)
    return Plan([_plan_agent(agent, state) for agent in desired])


def _plan_agent(desired: DesiredAgent, state: ServerState) -> AgentPlan:
    matches = state.agents.get(desired.name, [])
    remote = matches[0] if matches else None
    if remote is None:
        plan = AgentPlan(desired=desired, agent_id=None, new_version=True)
        plan.field_changes = {name: (None, getattr(desired, name)) for name in AGENT_FIELDS}
        plan.config_changes = diff_configs({}, desired.config)
        plan.sip = "deploy" if desired.sip else None
    else:
        plan = AgentPlan(desired=desired, agent_id=remote.id, live_version=remote.live_version)
        for name in AGENT_FIELDS:
            before, after = getattr(remote, name), getattr(desired, name)
            if before != after:
                plan.field_changes[name] = (before, after)
        live_config = _normalized(remote.live_config)
        if live_config is None or live_config != desired.config:
            plan.new_version = True
            plan.config_changes = diff_configs(live_config or {}, desired.config)
        if desired.sip != remote.sip_enabled:
            plan.sip = "deploy" if desired.sip else "remove"
    _plan_numbers(plan, remote, state)
    _plan_tests(plan, remote)
    return plan


def _plan_tests(plan: AgentPlan, remote: RemoteAgent | None) -> None:
    """The file's tests against the server's, by name (only when the file declares tests)."""
    wanted = plan.desired.tests
    if wanted is None:
        return
    have = (remote.tests if remote is not None else None) or {}
    for test in wanted:
        name = test["name"]
        if name not in have:
            plan.tests_create[name] = test
        elif have[name][1] != test:
            plan.tests_replace[name] = (have[name][0], test)
    names = {test["name"] for test in wanted}
    for name, (test_id, _) in sorted(have.items()):
        if name not in names:
            plan.tests_delete[name] = test_id


def _normalized(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A server config in the file's normal form (as stored, unless it no longer validates)."""
    if config is None:
        return None
    try:
        return normalize_config(config)
    except ValueError:
        return config


def _plan_numbers(plan: AgentPlan, remote: RemoteAgent | None, state: ServerState) -> None:
    target = None if plan.new_version else (plan.agent_id, plan.live_version)
    for slot in SLOTS:
        wanted = plan.desired.numbers(slot)
        for number in wanted:
            record = state.numbers[number]
            assert record is not None  # compute_plan refused unregistered numbers
            holder = record.holder(slot)
            if holder != target:
                plan.assign.append(NumberMove(slot, number, holder))
        held = sorted(remote.held_numbers, key=lambda r: r.phone_number) if remote else []
        for record in held:
            holder = record.holder(slot)
            if holder[0] == plan.agent_id and record.phone_number not in wanted:
                plan.unassign.append(NumberMove(slot, record.phone_number, holder))


# --- rendering --------------------------------------------------------------------------------


def _value(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _change_line(change: Change) -> str:
    limit = 50 if change.path == "instructions" else 80
    return (
        f"{change.op} {change.path}: {_value(change.before, limit)} → {_value(change.after, limit)}"
    )


def _holder(move: NumberMove, plan: AgentPlan) -> str:
    agent_id, version = move.holder
    if agent_id is None:
        return "free"
    owner = "this agent" if agent_id == plan.agent_id else f"agent {agent_id}"
    return f"now {owner} v{version}"


def render_agent(plan: AgentPlan) -> list[str]:
    if plan.create:
        lines = [f'+ agent "{plan.name}": create']
    elif plan.has_changes:
        lines = [f'~ agent "{plan.name}" ({plan.agent_id}): update']
    else:
        return [f'  agent "{plan.name}" ({plan.agent_id}): no changes']
    sign = "+" if plan.create else "~"
    for name, (before, after) in plan.field_changes.items():
        shown = _value(after) if plan.create else f"{_value(before)} → {_value(after)}"
        lines.append(f"    {sign} {name}: {shown}")
    if plan.new_version:
        base = f"live is v{plan.live_version}" if plan.live_version else "from the defaults"
        changes = plural(len(plan.config_changes), "config change")
        lines.append(f"    + new version ({base}; {changes}):")
        lines.extend(f"        {_change_line(change)}" for change in plan.config_changes)
        lines.append("    + publish the new version (it becomes live)")
    elif plan.publishes:
        lines.append(f"    ~ republish live v{plan.live_version} to move numbers")
    target = "the new version" if plan.new_version else f"v{plan.live_version}"
    for move in plan.assign:
        lines.append(f"    + {move.slot} {move.number} → {target} ({_holder(move, plan)})")
    for move in plan.unassign:
        lines.append(f"    - {move.slot} {move.number}: unassign ({_holder(move, plan)})")
    lines.extend(f'    + test "{name}"' for name in plan.tests_create)
    lines.extend(f'    ~ test "{name}"' for name in plan.tests_replace)
    lines.extend(f'    - test "{name}"' for name in plan.tests_delete)
    if plan.sip == "deploy":
        lines.append("    + deploy SIP endpoint")
    elif plan.sip == "remove":
        lines.append("    - remove SIP endpoint")
    return lines


def render_plan(plan: Plan) -> str:
    lines: list[str] = []
    for agent in plan.agents:
        lines.extend(render_agent(agent))
    created = sum(agent.create for agent in plan.agents)
    updated = sum(agent.has_changes and not agent.create for agent in plan.agents)
    unchanged = len(plan.agents) - created - updated
    if plan.has_changes:
        lines.append(f"\nPlan: {created} to create, {updated} to update, {unchanged} unchanged.")
    else:
        lines.append(f"\nNo changes: the server matches the file ({plural(unchanged, 'agent')}).")
    return "\n".join(lines)
