"""What a process is made of: its workflows, audit listeners and hooks, installed by explicit calls.

Nothing registers itself on import. Both entry points call `install()` before they start the
workflow engine: the API (`app.create_app`) and the worker (`worker.run_worker`). A process that
records audit events therefore always fans them out to webhooks, and one that runs workflows knows
every workflow type, whatever it happened to import.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.analytics import analysis
from callplane.audit import recorder as audit
from callplane.config import Settings
from callplane.llm import Writer, writer_for
from callplane.scaffolding import workflow as scaffolding
from callplane.versions import generation
from callplane.versions.summary import summary_chunks
from callplane.webhooks import delivery, fanout
from callplane.workflows import engine, steps
from callplane.workflows import service as workflows

# Every workflow by its durable name (stored with each run: these names never change). Both
# website builds are one workflow under two names, so a run's `type` keeps saying which it was.
WORKFLOWS: dict[str, Callable[..., Awaitable[None]]] = {
    generation.TYPE: generation.generate_instructions,
    scaffolding.FROM_WEBSITE: scaffolding.build,
    scaffolding.DEMO: scaffolding.build,
    delivery.WORKFLOW: delivery.deliver,
    analysis.TYPE: analysis.analyze_conversations,
}


def _act_as_workflow(session: AsyncSession, workflow_id: str | None) -> None:
    """A step's transaction records its audit events as its workflow."""
    audit.act_as(session, audit.Actor("workflow", workflow_id))


def install() -> None:
    """Install the listeners, hooks and workflows (idempotent: each is installed once)."""
    audit.on_event(fanout.fan_out)
    steps.on_transaction(_act_as_workflow)
    workflows.on_cancel(generation.TYPE, generation.reset_on_cancel)
    for name, body in WORKFLOWS.items():
        engine.register_workflow(name, body)


def writer(settings: Settings) -> Writer:
    """The process's writer (model or templates), with the versions domain's model-less change
    summary as its fallback: the LLM layer knows no domain."""
    return writer_for(settings, summary_chunks)
