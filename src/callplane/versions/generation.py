"""Instruction generation: a durable workflow that writes `config.instructions` from the version's
`instruction_builder_inputs` (SPEC §4).

The inputs are snapshotted when generation starts (the run's input, a `GenerationRun`). When the
text is ready it is applied only if the version is still a draft and its inputs are unchanged;
otherwise nothing is overwritten and the run's result says why (`VersionService.apply_generated`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agent_config import InstructionBuilderInputs
from callplane.models import WorkflowRun
from callplane.versions.schemas import ApplyGenerated, GeneratedText, GenerationRun
from callplane.versions.service import VersionService
from callplane.workflows import engine, steps, tracking
from callplane.workflows.runtime import runtime

TYPE = "generate_instructions"  # the workflow's durable name, and the runs' `type`
TOTAL_STEPS = 2


async def write_instructions(run: GenerationRun) -> dict[str, Any]:
    """The step `write`. Returns a plain dict: step outputs are checkpointed, and one recorded
    before an upgrade must still read back."""
    generated = await runtime().writer.instructions(
        InstructionBuilderInputs.model_validate(run.inputs)
    )
    return {"instructions": generated.instructions, "starting_message": generated.starting_message}


async def apply_instructions(step: ApplyGenerated) -> dict[str, Any]:
    """The step `apply`: the text goes into the draft unless it changed meanwhile."""
    run = step.run
    async with steps.transaction("apply") as session:
        versions = VersionService(session, step.organization_id)
        return await versions.apply_generated(
            run.version_id, run.inputs, step.generated, run.instructions_before
        )


async def reset_on_cancel(session: AsyncSession, run: WorkflowRun) -> None:
    """The cancel hook (installed by callplane.wiring): a cancelled draft is no longer
    `generating`."""
    spec = GenerationRun.model_validate(run.input)
    await VersionService(session, run.organization_id).leave_generating(spec.version_id, "idle")


async def generate_instructions(run_id: str) -> None:
    """The workflow `TYPE`."""

    async def body(run: WorkflowRun) -> dict[str, Any]:
        spec = GenerationRun.model_validate(run.input)
        await tracking.progress(run_id, "write", "Writing instructions", 0, TOTAL_STEPS)
        generated = await engine.run_step(
            write_instructions, spec, max_attempts=4, retry_if=tracking.is_transient
        )
        await tracking.progress(run_id, "apply", "Saving instructions", 1, TOTAL_STEPS)
        outcome = await engine.run_step(
            apply_instructions,
            ApplyGenerated(
                organization_id=run.organization_id,
                run=spec,
                generated=GeneratedText.model_validate(generated),
            ),
        )
        await tracking.progress(run_id, "done", "Done", TOTAL_STEPS, TOTAL_STEPS)
        return outcome

    async def cleanup(run: WorkflowRun) -> None:
        spec = GenerationRun.model_validate(run.input)
        async with runtime().database.session(write=True) as session, session.begin():
            versions = VersionService(session, run.organization_id)
            await versions.leave_generating(spec.version_id, "failed")

    await tracking.execute(run_id, body, cleanup)
