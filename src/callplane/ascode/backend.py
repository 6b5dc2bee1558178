"""The `Backend` agents-as-code uses, implemented with the Python SDK (`callplane.client`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callplane.agenttests.schemas import AgentTestCreate, AgentTestRead, TestRunRead
from callplane.ascode.plan import RemoteAgent, RemoteNumber
from callplane.client import Client, NotFound
from callplane.phone_numbers.schemas import PhoneNumberRead


def _id(value: object) -> str | None:
    return None if value is None else str(value)


def _number(record: PhoneNumberRead) -> RemoteNumber:
    return RemoteNumber(
        phone_number=record.phone_number,
        inbound_agent_id=_id(record.inbound_agent_id),
        inbound_version=record.inbound_version,
        outbound_agent_id=_id(record.outbound_agent_id),
        outbound_version=record.outbound_version,
    )


class SdkBackend:
    """Reads and writes one organization through a `callplane.client.Client`."""

    def __init__(self, client: Client):
        self.client = client

    def find_agents(self, name: str) -> list[RemoteAgent]:
        # The API's `name` filter is a case-insensitive substring match: keep exact names only.
        matches = [agent for agent in self.client.agents.list(name=name) if agent.name == name]
        return [self.get_agent(str(agent.id)) for agent in matches]

    def get_agent(self, agent_id: str) -> RemoteAgent:
        detail = self.client.agents.get(agent_id)
        live_config = newest_config = None
        if detail.live_version is not None:
            live_config = self.client.agents.versions.get(agent_id, detail.live_version).config
        elif detail.versions:  # summaries, newest first
            newest = detail.versions[0].version
            newest_config = self.client.agents.versions.get(agent_id, newest).config
        return RemoteAgent(
            id=str(detail.id),
            name=detail.name,
            description=detail.description,
            active=detail.active,
            is_demo=detail.is_demo,
            metadata=detail.metadata,
            live_version=detail.live_version,
            live_config=live_config,
            newest_config=newest_config,
            sip_enabled=detail.sip_endpoint.enabled,
            held_numbers=tuple(_number(record) for record in detail.phone_numbers),
            tests={
                test.name: (str(test.id), _test_definition(test))
                for test in self.client.tests.list(agent_id)
            },
        )

    def get_number(self, number: str) -> RemoteNumber | None:
        try:
            return _number(self.client.phone_numbers.get(number))
        except NotFound:
            return None

    def create_agent(
        self,
        *,
        name: str,
        description: str | None,
        active: bool,
        is_demo: bool,
        metadata: dict[str, Any],
    ) -> str:
        agent = self.client.agents.create(
            name=name, description=description, active=active, is_demo=is_demo, metadata=metadata
        )
        return str(agent.id)

    def update_agent(self, agent_id: str, fields: dict[str, Any]) -> None:
        self.client.agents.update(agent_id, **fields)

    def create_version(self, agent_id: str, config: dict[str, Any]) -> int:
        return self.client.agents.versions.create(agent_id, config=config).version

    def publish(
        self,
        agent_id: str,
        version: int,
        *,
        assign: Sequence[str],
        unassign: Sequence[str],
        direction: str,
    ) -> None:
        self.client.agents.versions.publish(
            agent_id,
            version,
            phone_numbers=list(assign),
            unassign_phone_numbers=list(unassign),
            direction=direction,
        )

    def deploy_sip(self, agent_id: str) -> None:
        self.client.agents.deploy_sip(agent_id)

    def remove_sip(self, agent_id: str) -> None:
        self.client.agents.remove_sip(agent_id)

    def create_test(self, agent_id: str, definition: dict[str, Any]) -> None:
        self.client.tests.create(agent_id, **definition)

    def replace_test(self, agent_id: str, test_id: str, definition: dict[str, Any]) -> None:
        self.client.tests.replace(agent_id, test_id, **definition)

    def delete_test(self, agent_id: str, test_id: str) -> None:
        self.client.tests.delete(agent_id, test_id)

    def run_tests(self, agent_id: str, version: int) -> TestRunRead | None:
        """Run all the agent's tests against `version` and wait; None when it has none."""
        if not any(True for _ in self.client.tests.list(agent_id, limit=1)):
            return None
        run = self.client.test_runs.start(agent_id, version)
        return self.client.test_runs.wait(run.id)


def _test_definition(test: AgentTestRead) -> dict[str, Any]:
    """A server test in the file's normal form (AgentTestCreate, JSON mode)."""
    fields = test.model_dump(
        mode="json",
        include={
            "name",
            "description",
            "turns",
            "caller",
            "expectations",
            "tool_mocks",
            "variables",
            "channel",
        },
    )
    try:
        return AgentTestCreate.model_validate(fields).model_dump(mode="json")
    except ValueError:
        return fields
