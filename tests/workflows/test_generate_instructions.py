from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import delete, update

from callplane.db.engine import Database
from callplane.llm import GeneratedInstructions, LLMRequestRejected
from callplane.models import AgentVersion
from callplane.versions.generation import apply_instructions
from callplane.versions.schemas import ApplyGenerated, GeneratedText, GenerationRun
from callplane.workflows.runtime import runtime
from tests.factories import Tenant
from tests.workflows.helpers import wait_for_workflow

INPUTS = {
    "company_name": "Acme Dental",
    "industry": "dental clinic",
    "purpose": "book and reschedule appointments",
    "personality": "warm and concise",
    "opening_line": "Thanks for calling Acme Dental, how can I help?",
    "rules": ["Never give medical advice", "Confirm the caller's name"],
}


async def draft_with_inputs(
    tenant: Tenant, inputs: dict[str, Any] | None = None
) -> tuple[str, int]:
    agent = await tenant.create_agent()
    version = await tenant.create_version(
        agent["id"], config={}, instruction_builder_inputs=inputs or INPUTS
    )
    return agent["id"], version["version"]


async def generate(tenant: Tenant, agent_id: str, number: int, **kwargs: Any) -> Any:
    return await tenant.post(
        f"/core/agents/{agent_id}/versions/{number}/generate-instructions", **kwargs
    )


async def test_generation_writes_instructions_and_unblocks_publishing(tenant: Tenant) -> None:
    agent_id, number = await draft_with_inputs(tenant)
    blocked = await tenant.publish(agent_id, number)
    assert blocked.status_code == 409 and blocked.json()["code"] == "instructions_stale"

    response = await generate(tenant, agent_id, number)
    assert response.status_code == 202, response.text
    workflow_id = response.json()["workflow_id"]

    run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "succeeded", run
    assert run["type"] == "generate_instructions"
    assert run["result"] == {"agent_id": agent_id, "version": number, "applied": True}
    assert run["progress"]["completed_steps"] == run["progress"]["total_steps"] == 2
    assert run["attempts"] == 1 and run["started_at"] and run["finished_at"]

    version = (await tenant.get(f"/core/agents/{agent_id}/versions/{number}")).json()
    assert "Acme Dental" in version["config"]["instructions"]
    assert "Never give medical advice" in version["config"]["instructions"]
    assert version["config"]["starting_message"] == INPUTS["opening_line"]
    assert version["instructions_status"] == "idle"
    assert version["instructions_dirty"] is False
    assert version["instructions_manually_edited"] is False
    assert version["instructions_generated_at"] is not None

    assert (await tenant.publish(agent_id, number)).status_code == 200


async def test_generation_requires_inputs_and_a_draft(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    plain = await tenant.create_version(agent["id"])
    response = await generate(tenant, agent["id"], plain["version"])
    assert response.status_code == 400
    assert response.json()["code"] == "no_instruction_builder_inputs"

    agent_id, number = await draft_with_inputs(tenant)
    await tenant.put(
        f"/core/agents/{agent_id}/versions/{number}",
        json={"config": {"instructions": "Hand written."}},
    )
    assert (await tenant.publish(agent_id, number)).status_code == 200
    response = await generate(tenant, agent_id, number)
    assert response.status_code == 400 and response.json()["code"] == "version_published"
    listed = (await tenant.get("/core/workflows")).json()["data"]
    assert listed == []


async def test_generation_already_running_is_409(tenant: Tenant, database: Database) -> None:
    agent_id, number = await draft_with_inputs(tenant)
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            update(AgentVersion)
            .where(AgentVersion.agent_id == uuid.UUID(agent_id))
            .values(instructions_status="generating")
        )
    response = await generate(tenant, agent_id, number)
    assert response.status_code == 409 and response.json()["code"] == "instructions_generating"


async def test_unknown_and_foreign_versions_are_404(tenant: Tenant, other_tenant: Tenant) -> None:
    agent_id, number = await draft_with_inputs(tenant)
    assert (await generate(other_tenant, agent_id, number)).status_code == 404
    assert (await generate(tenant, agent_id, number + 5)).status_code == 404
    assert (await generate(tenant, str(uuid.uuid4()), 1)).status_code == 404


async def test_a_generation_that_finishes_late_overwrites_nothing(tenant: Tenant) -> None:
    """Inputs changed (or the version was published) while the text was being written."""
    agent_id, number = await draft_with_inputs(tenant)
    url = f"/core/agents/{agent_id}/versions/{number}"
    version = (await tenant.get(url)).json()
    new_inputs = {**INPUTS, "company_name": "Acme Orthodontics"}
    assert (
        await tenant.put(url, json={"instruction_builder_inputs": new_inputs})
    ).status_code == 200

    generated = GeneratedText(instructions="Stale text")
    outcome = await apply_instructions(
        _apply(tenant, version, version["instruction_builder_inputs"], generated)
    )
    assert outcome["applied"] is False and "inputs changed" in outcome["reason"]
    after = (await tenant.get(url)).json()
    assert after["config"]["instructions"] != "Stale text"
    assert after["instructions_dirty"] is True

    await tenant.put(url, json={"config": {"instructions": "By hand"}})
    assert (await tenant.publish(agent_id, number)).status_code == 200
    outcome = await apply_instructions(_apply(tenant, version, new_inputs, generated))
    assert outcome["applied"] is False and "published" in outcome["reason"]
    assert (await tenant.get(url)).json()["config"]["instructions"] == "By hand"


def _apply(
    tenant: Tenant,
    version: dict[str, Any],
    inputs: dict[str, Any],
    generated: GeneratedText,
    before: str | None = None,
) -> ApplyGenerated:
    """The apply step's argument, as a run started with `inputs` (and `before`) would pass it."""
    run = GenerationRun(
        agent_id=version["agent_id"],
        version_id=version["id"],
        version=version["version"],
        inputs=inputs,
        instructions_before=before,
    )
    return ApplyGenerated(organization_id=tenant.organization_id, run=run, generated=generated)


class RejectingWriter:
    """A model endpoint that refuses the request: a permanent failure, not retried."""

    def __init__(self) -> None:
        self.calls = 0

    async def instructions(self, inputs: Any) -> GeneratedInstructions:
        self.calls += 1
        raise LLMRequestRejected("model refused: context too long", status_code=400)


async def test_permanent_failure_marks_run_and_version_failed(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = RejectingWriter()
    monkeypatch.setattr(runtime(), "writer", writer)
    agent_id, number = await draft_with_inputs(tenant)
    workflow_id = (await generate(tenant, agent_id, number)).json()["workflow_id"]
    run = await wait_for_workflow(tenant, workflow_id)
    assert run["status"] == "failed"
    assert run["error"]["code"] == "llm_request_rejected"
    assert "context too long" in run["error"]["message"]
    assert writer.calls == 1  # permanent: not retried
    version = (await tenant.get(f"/core/agents/{agent_id}/versions/{number}")).json()
    assert version["instructions_status"] == "failed"
    assert version["instructions_dirty"] is True


async def test_idempotent_retry_returns_the_same_workflow(tenant: Tenant) -> None:
    agent_id, number = await draft_with_inputs(tenant)
    headers = {"Idempotency-Key": f"gen-{uuid.uuid4()}"}
    first = await generate(tenant, agent_id, number, headers=headers)
    second = await generate(tenant, agent_id, number, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    await wait_for_workflow(tenant, first.json()["workflow_id"])
    runs = (await tenant.get("/core/workflows")).json()["data"]
    assert [r["workflow_id"] for r in runs] == [first.json()["workflow_id"]]


async def test_hand_edits_during_generation_are_kept(tenant: Tenant) -> None:
    agent_id, number = await draft_with_inputs(tenant)
    url = f"/core/agents/{agent_id}/versions/{number}"
    version = (await tenant.get(url)).json()
    started_with = version["config"]["instructions"]
    await tenant.put(url, json={"config": {"instructions": "Written by a person."}})
    generated = GeneratedText(instructions="Generated text")
    outcome = await apply_instructions(
        _apply(tenant, version, version["instruction_builder_inputs"], generated, started_with)
    )
    assert outcome["applied"] is False and "edited by hand" in outcome["reason"]
    after = (await tenant.get(url)).json()
    assert after["config"]["instructions"] == "Written by a person."
    assert after["instructions_manually_edited"] is True


async def test_a_reused_key_after_its_record_expired_starts_new_work(
    tenant: Tenant, database: Database
) -> None:
    """The derived workflow id of a finished run is not reused for new work: the version must
    not be left `generating` with nothing running."""
    from callplane.models import IdempotencyKey

    agent_id, number = await draft_with_inputs(tenant)
    headers = {"Idempotency-Key": f"gen-{uuid.uuid4()}"}
    first = (await generate(tenant, agent_id, number, headers=headers)).json()["workflow_id"]
    await wait_for_workflow(tenant, first)
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.organization_id == tenant.organization_id)
        )
    url = f"/core/agents/{agent_id}/versions/{number}"
    await tenant.put(url, json={"instruction_builder_inputs": {**INPUTS, "company_name": "New"}})
    second = await generate(tenant, agent_id, number, headers=headers)
    assert second.status_code == 202
    assert second.json()["workflow_id"] != first
    run = await wait_for_workflow(tenant, second.json()["workflow_id"])
    assert run["status"] == "succeeded" and run["result"]["applied"] is True
    assert (await tenant.get(url)).json()["instructions_status"] == "idle"
