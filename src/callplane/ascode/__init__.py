"""Agents as code: declare agents in a YAML file, `plan` the changes, `apply` them, `export` one.

See docs/agents-as-code.md. The SDK adapter lives in `callplane.ascode.backend`.
"""

from callplane.ascode.apply import apply_plan, plan_file
from callplane.ascode.export import agent_entry, export_agents
from callplane.ascode.model import API_VERSION, DesiredAgent, FileError, load_file
from callplane.ascode.plan import (
    AgentPlan,
    Backend,
    Plan,
    PlanError,
    RemoteAgent,
    RemoteNumber,
    ServerState,
    compute_plan,
    read_state,
    render_plan,
)

__all__ = [
    "API_VERSION",
    "AgentPlan",
    "Backend",
    "DesiredAgent",
    "FileError",
    "Plan",
    "PlanError",
    "RemoteAgent",
    "RemoteNumber",
    "ServerState",
    "agent_entry",
    "apply_plan",
    "compute_plan",
    "export_agents",
    "load_file",
    "plan_file",
    "read_state",
    "render_plan",
]
