"""What a process is made of: its workflows, audit listeners and hooks, installed by explicit calls.

Nothing registers itself on import. Both entry points call `install()` before they start the
workflow engine: the API (`app.create_app`) and the worker (`worker.run_worker`). A process that
records audit events therefore always fans them out to webhooks, and one that runs workflows knows
every workflow type, whatever it happened to import.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agenttests import runner as test_runner
from callplane.agenttests import workflow as test_runs
from callplane.analytics import analysis
from callplane.audit import recorder as audit
from callplane.config import Settings
from callplane.conversations.knowledge import SearchRetriever
from callplane.conversations.live import LiveRuntime
from callplane.db.engine import Database
from callplane.knowledge import embedding as knowledge_embedding
from callplane.knowledge import schedule as knowledge_schedule
from callplane.knowledge import service as knowledge_service
from callplane.knowledge import workflow as knowledge
from callplane.llm import OpenAICompatibleProvider, Writer, writer_for
from callplane.runtime import workflows as conversation_workflows
from callplane.runtime.http import GuardedHttp
from callplane.scaffolding import workflow as scaffolding
from callplane.versions import generation
from callplane.versions.summary import summary_chunks
from callplane.voice.brain import engine_brains
from callplane.voice.service import VoiceGateway
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
    test_runs.TYPE: test_runs.run_tests,
    conversation_workflows.WORKFLOW: conversation_workflows.call_endpoint,
    knowledge.CRAWL: knowledge.crawl_into_collection,
    knowledge.REFRESH: knowledge.refresh_collection,
    knowledge_embedding.EMBED: knowledge_embedding.embed_collection,
}

# The scheduled workflows by their durable names, each with its crontab under the settings.
SCHEDULED: dict[
    str, tuple[Callable[[datetime, Any], Awaitable[object]], Callable[[Settings], str | None]]
] = {
    knowledge_schedule.SCHEDULE: (
        knowledge_schedule.refresh_due_collections,
        knowledge_schedule.crontab,
    ),
}


def _act_as_workflow(session: AsyncSession, workflow_id: str | None) -> None:
    """A step's transaction records its audit events as its workflow."""
    audit.act_as(session, audit.Actor("workflow", workflow_id))


def install() -> None:
    """Install the listeners, hooks and workflows (idempotent: each is installed once)."""
    audit.on_event(fanout.fan_out)
    steps.on_transaction(_act_as_workflow)
    workflows.on_cancel(generation.TYPE, generation.reset_on_cancel)
    knowledge_service.on_passages_changed(knowledge_embedding.schedule_after_commit)

    test_runner.use_live_runtime(live_runtime)
    for name, body in WORKFLOWS.items():
        engine.register_workflow(name, body)
    for name, (scheduled, crontab) in SCHEDULED.items():
        engine.register_schedule(name, scheduled, crontab)


def writer(settings: Settings) -> Writer:
    """The process's writer (model or templates), with the versions domain's model-less change
    summary as its fallback: the LLM layer knows no domain."""
    return writer_for(settings, summary_chunks)


def live_runtime(settings: Settings) -> LiveRuntime:
    """What live conversations run with: the configured model (none: the offline responder),
    `http_request` actions through the SSRF guard, workflows on the durable engine."""
    model = None
    if settings.llm_base_url:
        model = OpenAICompatibleProvider(
            settings.llm_base_url,
            settings.llm_api_key or "none",
            settings.llm_model,
            timeout_seconds=settings.llm_timeout_seconds,
            max_retries=1,
        )
    return LiveRuntime(
        model=model,
        http=GuardedHttp(
            allow_private_networks=settings.crawler_allow_private_networks,
            max_bytes=settings.conversation_http_max_bytes,
        ),
        idle_timeout_seconds=settings.conversation_idle_timeout_seconds,
        max_message_chars=settings.conversation_max_message_chars,
        workflows=(
            conversation_workflows.DurableWorkflows() if settings.workflows != "off" else None
        ),
        retriever=SearchRetriever,
    )


def voice_gateway(
    settings: Settings, database: Database, runtime: Callable[[], LiveRuntime]
) -> VoiceGateway:
    """The voice gateway, each call a live conversation run by the process's runtime (read
    per call: tests swap the runtime's model)."""
    return VoiceGateway(settings, database, engine_brains(database, runtime))
