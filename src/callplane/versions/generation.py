"""Instruction generation: a durable workflow that writes `config.instructions` from the version's
`instruction_builder_inputs` (SPEC §4).

The inputs are snapshotted when generation starts. When the text is ready it is applied only if
the version is still a draft and its inputs are unchanged; otherwise nothing is overwritten and the
run's result says why.
"""

from __future__ import annotations

import uuid
from typing import Any

from dbos import DBOS
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agent_config import InstructionBuilderInputs
from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.models import AgentVersion, WorkflowRun
from callplane.workflows import service as workflow_service
from callplane.workflows import steps, tracking
from callplane.workflows.runtime import runtime

TYPE = "generate_instructions"
TOTAL_STEPS = 2
GENERATED = "agent.version.instructions_generated"  # the event of an applied text


@DBOS.step(
    retries_allowed=True, max_attempts=4, interval_seconds=1.0, should_retry=tracking.is_transient
)
async def write_instructions(inputs: dict[str, Any]) -> dict[str, Any]:
    generated = await runtime().writer.instructions(InstructionBuilderInputs.model_validate(inputs))
    return {"instructions": generated.instructions, "starting_message": generated.starting_message}


@DBOS.step()
async def apply_instructions(
    version_id: str,
    inputs: dict[str, Any],
    generated: dict[str, Any],
    instructions_before: str | None = None,
) -> dict[str, Any]:
    """Write the text into the draft unless, meanwhile, it was published, its inputs changed,
    or someone edited its instructions by hand (`instructions_before` is what they were)."""
    async with steps.transaction("apply") as session:
        version = (
            await session.scalars(
                select(AgentVersion)
                .where(AgentVersion.id == uuid.UUID(version_id))
                .with_for_update()
            )
        ).one_or_none()
        if version is None:
            return {"applied": False, "reason": "The version was deleted during generation."}
        outcome: dict[str, Any] = {"agent_id": str(version.agent_id), "version": version.version}
        if version.instructions_status == "generating":
            version.instructions_status = "idle"
        if await audit.recorded_by_this_step(session, GENERATED, "agent", version.agent_id):
            return {**outcome, "applied": True}  # by this step's first run, before a crash
        if version.published:
            reason = "The version was published during generation; nothing was overwritten."
            return {**outcome, "applied": False, "reason": reason}
        if instructions_before is not None and version.config.get("instructions") != (
            instructions_before
        ):
            reason = (
                "The instructions were edited by hand during generation; they were kept. "
                "Generate again to replace them."
            )
            return {**outcome, "applied": False, "reason": reason}
        if version.instruction_builder_inputs != inputs:
            reason = (
                "The builder inputs changed during generation; nothing was overwritten. "
                "Generate again to use the new inputs."
            )
            return {**outcome, "applied": False, "reason": reason}
        config = dict(version.config)
        config["instructions"] = generated["instructions"]
        if generated.get("starting_message"):
            config["starting_message"] = generated["starting_message"]
        version.config = config
        version.instructions_dirty = False
        version.instructions_manually_edited = False
        version.instructions_generated_at = utcnow()
        version.revision += 1
        await audit.record(
            session,
            version.organization_id,
            GENERATED,
            "agent",
            version.agent_id,
            {"version": version.version},
        )
        return {**outcome, "applied": True}


async def _leave_generating(session: AsyncSession, version_id: str, status: str) -> None:
    """Leave `generating` (idle on cancel, failed on failure), never touching other states."""
    await session.execute(
        update(AgentVersion)
        .where(
            AgentVersion.id == uuid.UUID(version_id),
            AgentVersion.instructions_status == "generating",
        )
        .values(instructions_status=status, updated_at=utcnow())
    )


async def _reset_on_cancel(session: AsyncSession, run: WorkflowRun) -> None:
    await _leave_generating(session, run.input["version_id"], "idle")


workflow_service.on_cancel(TYPE, _reset_on_cancel)


@DBOS.workflow()
async def generate_instructions(run_id: str) -> None:
    async def body(run: WorkflowRun) -> dict[str, Any]:
        version_id, inputs = run.input["version_id"], run.input["inputs"]
        await tracking.progress(run_id, "write", "Writing instructions", 0, TOTAL_STEPS)
        generated = await write_instructions(inputs)
        await tracking.progress(run_id, "apply", "Saving instructions", 1, TOTAL_STEPS)
        before = run.input.get("instructions_before")
        outcome = await apply_instructions(version_id, inputs, generated, before)
        await tracking.progress(run_id, "done", "Done", TOTAL_STEPS, TOTAL_STEPS)
        return outcome

    async def cleanup(run: WorkflowRun) -> None:
        async with runtime().database.session(write=True) as session, session.begin():
            await _leave_generating(session, run.input["version_id"], "failed")

    await tracking.execute(run_id, body, cleanup)
