"""An in-memory stand-in for the server, with the publishing rules that matter to the planner."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from callplane.ascode.plan import RemoteAgent, RemoteNumber

_ids = itertools.count(1)


@dataclass
class FakeAgent:
    id: str
    name: str
    description: str | None = None
    active: bool = True
    is_demo: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    configs: list[dict[str, Any]] = field(default_factory=list)  # version n is configs[n - 1]
    live_version: int | None = None
    sip: bool = False


class FakeBackend:
    """Implements `callplane.ascode.plan.Backend`; `calls` records every write."""

    def __init__(self) -> None:
        self.agents: dict[str, FakeAgent] = {}
        self.slots: dict[str, dict[str, tuple[str | None, int | None]]] = {}
        self.calls: list[tuple[Any, ...]] = []

    # setup helpers

    def add_agent(self, name: str, config: dict[str, Any] | None = None, **fields: Any) -> str:
        agent = FakeAgent(id=f"agent-{next(_ids)}", name=name, **fields)
        self.agents[agent.id] = agent
        if config is not None:
            agent.configs.append(copy.deepcopy(config))
            agent.live_version = 1
        return agent.id

    def register(self, *numbers: str) -> None:
        for number in numbers:
            self.slots[number] = {"inbound": (None, None), "outbound": (None, None)}

    def holder(self, number: str, slot: str) -> tuple[str | None, int | None]:
        return self.slots[number][slot]

    # reads

    def find_agents(self, name: str) -> list[RemoteAgent]:
        return [self.get_agent(a.id) for a in self.agents.values() if a.name == name]

    def get_agent(self, agent_id: str) -> RemoteAgent:
        agent = self.agents[agent_id]
        held = [n for n, s in self.slots.items() if agent_id in (s["inbound"][0], s["outbound"][0])]
        live = agent.live_version
        return RemoteAgent(
            id=agent.id,
            name=agent.name,
            description=agent.description,
            active=agent.active,
            is_demo=agent.is_demo,
            metadata=copy.deepcopy(agent.metadata),
            live_version=live,
            live_config=copy.deepcopy(agent.configs[live - 1]) if live else None,
            newest_config=copy.deepcopy(agent.configs[-1]) if agent.configs and not live else None,
            sip_enabled=agent.sip,
            held_numbers=tuple(self._number(n) for n in held),
        )

    def get_number(self, number: str) -> RemoteNumber | None:
        return self._number(number) if number in self.slots else None

    def _number(self, number: str) -> RemoteNumber:
        slots = self.slots[number]
        return RemoteNumber(number, *slots["inbound"], *slots["outbound"])

    # writes

    def create_agent(self, *, name: str, **fields: Any) -> str:
        self.calls.append(("create_agent", name))
        return self.add_agent(name, **copy.deepcopy(fields))

    def update_agent(self, agent_id: str, fields: dict[str, Any]) -> None:
        self.calls.append(("update_agent", agent_id, sorted(fields)))
        for name, value in fields.items():
            setattr(self.agents[agent_id], name, copy.deepcopy(value))

    def create_version(self, agent_id: str, config: dict[str, Any]) -> int:
        agent = self.agents[agent_id]
        agent.configs.append(copy.deepcopy(config))
        self.calls.append(("create_version", agent_id, len(agent.configs)))
        return len(agent.configs)

    def publish(
        self,
        agent_id: str,
        version: int,
        *,
        assign: Sequence[str],
        unassign: Sequence[str],
        direction: str,
    ) -> None:
        self.calls.append(("publish", agent_id, version, list(assign), list(unassign), direction))
        missing = [n for n in [*assign, *unassign] if n not in self.slots]
        assert not missing, f"unregistered {missing}"
        self.agents[agent_id].live_version = version
        for number in assign:
            self.slots[number][direction] = (agent_id, version)
        for number in unassign:
            if self.slots[number][direction][0] == agent_id:
                self.slots[number][direction] = (None, None)

    def deploy_sip(self, agent_id: str) -> None:
        assert self.agents[agent_id].live_version is not None, "409: not published"
        self.calls.append(("deploy_sip", agent_id))
        self.agents[agent_id].sip = True

    def remove_sip(self, agent_id: str) -> None:
        self.calls.append(("remove_sip", agent_id))
        self.agents[agent_id].sip = False
