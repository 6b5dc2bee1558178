"""A step's events are exactly-once per step: the same step body run twice under one step
identity (what the re-run after a crash is) records each event, and sends each webhook, once.

Fast, in-process: a test step runs a real step's body twice (a step called inside a step runs
inline, under the caller's workflow id and step id). The real crash is in test_crash_recovery.py.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from dbos import DBOS, SetWorkflowID

from callplane.scaffolding import workflow as build
from callplane.scaffolding.schemas import Build, Created, DeployStep
from callplane.versions import generation
from callplane.versions.schemas import ApplyGenerated, GeneratedText, GenerationRun
from tests.factories import Tenant
from tests.support.receiver import Receiver
from tests.webhooks.helpers import create_webhook, deliveries


def _deploy_step(organization_id: str, created: dict[str, Any], *, number: bool) -> DeployStep:
    """The deploy step's argument, in the calling workflow (its run)."""
    run = Build(
        run_id=str(DBOS.workflow_id),
        organization_id=uuid.UUID(organization_id),
        website="https://acme.test",
        include_phone_number=number,
    )
    return DeployStep(
        build=run, created=Created.model_validate(created), domain="acme.test", company_name="Acme"
    )


@DBOS.step()
async def _deploy_twice(organization_id: str, created: dict[str, Any]) -> None:
    for _ in range(2):
        await build.deploy(_deploy_step(organization_id, created, number=False))


@DBOS.step()
async def _deploy_twice_with_number(
    organization_id: str, created: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        await build.deploy(_deploy_step(organization_id, created, number=True)) for _ in range(2)
    ]


@DBOS.workflow()
async def _deploy_rerun_with_number(
    organization_id: str, created: dict[str, Any]
) -> list[dict[str, Any]]:
    return await _deploy_twice_with_number(organization_id, created)


@DBOS.step()
async def _apply_twice(
    organization_id: str, version_id: str, inputs: dict[str, Any], before: str | None
) -> list[dict[str, Any]]:
    step = _apply(organization_id, version_id, inputs, before)
    return [await generation.apply_instructions(step) for _ in range(2)]


def _apply(
    organization_id: str, version_id: str, inputs: dict[str, Any], before: str | None
) -> ApplyGenerated:
    """The apply step's argument for a draft."""
    run = GenerationRun(
        agent_id=uuid.uuid4(),  # not read by the step
        version_id=uuid.UUID(version_id),
        version=1,
        inputs=inputs,
        instructions_before=before,
    )
    return ApplyGenerated(
        organization_id=uuid.UUID(organization_id),
        run=run,
        generated=GeneratedText(instructions="Greet."),
    )


@DBOS.workflow()
async def _deploy_rerun(organization_id: str, created: dict[str, Any]) -> None:
    await _deploy_twice(organization_id, created)


@DBOS.workflow()
async def _apply_rerun(
    organization_id: str, version_id: str, inputs: dict[str, Any], before: str | None
) -> list[dict[str, Any]]:
    return await _apply_twice(organization_id, version_id, inputs, before)


async def _events(tenant: Tenant, workflow_id: str) -> Counter[str]:
    response = await tenant.get(
        "/core/audit-events", params={"actor_id": workflow_id, "limit": 100}
    )
    assert response.status_code == 200, response.text
    return Counter(event["action"] for event in response.json()["data"])


async def test_a_rerun_deploy_step_records_and_sends_its_events_once(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    webhook = await create_webhook(tenant, receivers().url, ["agent.version.published"])
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    workflow_id = f"rerun-{uuid.uuid4()}"
    created = {"agent_id": agent["id"], "version": draft["version"]}

    with SetWorkflowID(workflow_id):
        await _deploy_rerun(str(tenant.organization_id), created)

    assert await _events(tenant, workflow_id) == {
        "agent.version.published": 1,
        "sip_endpoint.deployed": 1,
        "web_widget.created": 1,
    }
    assert [d["event_type"] for d in await deliveries(tenant, webhook["id"])] == [
        "agent.version.published"
    ]


async def test_a_rerun_deploy_step_keeps_the_number_it_took(tenant: Tenant) -> None:
    """The re-run finds the number the first run published to (no longer free) and reports it,
    rather than warning that the organization has none free; the publish's events, written in
    one multi-row insert (`audit.record_many`), are each recorded once."""
    number = await tenant.register_number()
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    created = {"agent_id": agent["id"], "version": draft["version"]}
    workflow_id = f"rerun-{uuid.uuid4()}"

    with SetWorkflowID(workflow_id):
        first, again = await _deploy_rerun_with_number(str(tenant.organization_id), created)

    assert first["phone_number"] == again["phone_number"] == number
    assert first["warnings"] == again["warnings"] == []
    assert await _events(tenant, workflow_id) == {
        "agent.version.published": 1,
        "phone_number.assignment_changed": 1,
        "sip_endpoint.deployed": 1,
        "web_widget.created": 1,
    }


@pytest.mark.parametrize("before", [None, "Help callers."])
async def test_a_rerun_apply_step_records_its_event_once(
    tenant: Tenant, before: str | None
) -> None:
    """Also, the re-run reports the text as applied: it does not take its own first run's
    write for a hand edit (`before` is what the instructions were when generation started)."""
    agent = await tenant.create_agent()
    draft = await tenant.create_version(
        agent["id"],
        config={"instructions": "Help callers."},
        instruction_builder_inputs={"company_name": "Acme"},
    )
    workflow_id = f"rerun-{uuid.uuid4()}"

    with SetWorkflowID(workflow_id):
        outcomes = await _apply_rerun(
            str(tenant.organization_id), draft["id"], draft["instruction_builder_inputs"], before
        )

    assert [outcome["applied"] for outcome in outcomes] == [True, True], outcomes
    assert await _events(tenant, workflow_id) == {"agent.version.instructions_generated": 1}


async def test_request_path_events_are_never_skipped(tenant: Tenant) -> None:
    """Outside a step nothing is keyed: the same change made twice is two events."""
    webhook = await create_webhook(tenant, "http://127.0.0.1:9/", ["agent.created"])
    for _ in range(2):
        response = await tenant.post(f"/core/webhooks/{webhook['id']}/rotate-secret")
        assert response.status_code == 200, response.text
    response = await tenant.get("/core/audit-events", params={"resource_id": webhook["id"]})
    actions = Counter(event["action"] for event in response.json()["data"])
    assert actions["webhook.secret_rotated"] == 2
