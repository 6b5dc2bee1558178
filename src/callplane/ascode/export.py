"""Write the agents file for an agent that exists on the server.

The config is the live version's (or, for an agent never published, its newest version's; the
defaults for an agent with no version), in full as the server stores it. Numbers are the ones whose
slots hold this agent; `sip` is whether its SIP endpoint is deployed. Applying the result to the
same organization changes nothing.
"""

from __future__ import annotations

from typing import Any

from callplane.agent_config import default_config
from callplane.ascode.model import dump_file
from callplane.ascode.plan import Backend, RemoteAgent


def agent_entry(agent: RemoteAgent, *, with_numbers: bool = True) -> dict[str, Any]:
    """One `agents:` item of the file format for `agent`."""
    config = agent.live_config if agent.live_version is not None else agent.newest_config
    entry: dict[str, Any] = {
        "name": agent.name,
        "description": agent.description,
        "active": agent.active,
        "is_demo": agent.is_demo,
        "metadata": agent.metadata,
        "config": config if config is not None else default_config(),
    }
    if with_numbers:
        entry["phone_numbers"] = {
            slot: sorted(
                number.phone_number
                for number in agent.held_numbers
                if number.holder(slot)[0] == agent.id
            )
            for slot in ("inbound", "outbound")
        }
    entry["sip"] = agent.sip_enabled
    return entry


def export_agents(backend: Backend, agent_ids: list[str], *, with_numbers: bool = True) -> str:
    """The YAML agents file declaring these agents as they are now."""
    return dump_file(
        [
            agent_entry(backend.get_agent(agent_id), with_numbers=with_numbers)
            for agent_id in agent_ids
        ]
    )
