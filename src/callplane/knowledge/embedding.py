"""Embeddings of knowledge passages: computed after commit by a workflow, with retries.

When passages change (a document added, a page stored or refreshed), the writing transaction
schedules, once it has committed, the workflow `knowledge_embed` for the collection. It embeds
the collection's passages that have no vector yet, a batch per step (a failed batch is retried
with backoff while the endpoint's error is transient), until none is left. Until then keyword
search finds those passages as usual, and semantic ranking just does not see them.

Without CALLPLANE_EMBEDDINGS_BASE_URL nothing is scheduled and search is keyword search.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.config import Settings
from callplane.db.session import after_commit
from callplane.db.types import new_id
from callplane.llm.embeddings import Embedder
from callplane.models import KnowledgeChunk
from callplane.workflows import engine, steps, tracking
from callplane.workflows.runtime import runtime

logger = logging.getLogger("callplane.knowledge")

EMBED = "knowledge_embed"  # the workflow's durable name: never change it
MAX_BATCHES = 10_000  # per run: a run ends, and the next change schedules another
# By settings object and loop; the settings are kept so that their id() cannot be reused.
_embedders: dict[tuple[int, asyncio.AbstractEventLoop], tuple[Settings, Embedder]] = {}


def configured_embedder() -> Embedder | None:
    """The process's embedder (one per event loop: its HTTP client belongs to the loop), or
    None when no embeddings endpoint is configured (or outside a running app)."""
    try:
        settings = runtime().settings
    except RuntimeError:
        return None
    if not settings.embeddings_base_url:
        return None
    key = (id(settings), asyncio.get_running_loop())
    cached = _embedders.get(key)
    if cached is None or cached[0] is not settings:
        _embedders[key] = (
            settings,
            Embedder(
                settings.embeddings_base_url,
                settings.embeddings_api_key or "none",
                settings.embeddings_model,
                dimensions=settings.embeddings_dimensions,
                timeout_seconds=settings.embeddings_timeout_seconds,
                max_retries=0,  # the workflow step retries, with backoff
            ),
        )
    return _embedders[key][1]


def schedule_after_commit(
    session: AsyncSession, organization_id: uuid.UUID, collection_id: uuid.UUID
) -> None:
    """The `on_passages_changed` hook (installed by callplane.wiring)."""
    if configured_embedder() is None or session.info.get(("embed", collection_id)):
        return
    session.info[("embed", collection_id)] = True

    async def enqueue() -> None:
        if not engine.is_running():
            logger.warning("embeddings not scheduled: the workflow engine is not running")
            return
        workflow_id = f"knowledge-embed:{collection_id}:{new_id()}"
        await engine.enqueue(EMBED, workflow_id, str(organization_id), str(collection_id))

    after_commit(session, enqueue)


async def start_in_workflow(run_id: str, organization_id: uuid.UUID, collection_id: str) -> None:
    """From a workflow whose steps changed passages (crawl, refresh): step transactions have no
    after-commit hooks, so the workflow starts the embedding itself, under an id derived from
    its own (a recovered run starts nothing twice)."""
    if configured_embedder() is None:
        return
    workflow_id = f"knowledge-embed:{run_id}"
    await engine.enqueue(EMBED, workflow_id, str(organization_id), collection_id)


async def _embed_batch(arguments: dict[str, Any]) -> int:
    """Embed up to a batch of the collection's passages without a vector; how many it did."""
    embedder = configured_embedder()
    if embedder is None:
        return 0
    organization_id = uuid.UUID(arguments["organization_id"])
    collection_id = uuid.UUID(arguments["collection_id"])
    size = runtime().settings.embeddings_batch_size
    async with runtime().database.session(write=False) as session:
        rows = (
            await session.execute(
                select(KnowledgeChunk.seq, KnowledgeChunk.title, KnowledgeChunk.content)
                .where(
                    KnowledgeChunk.organization_id == organization_id,
                    KnowledgeChunk.collection_id == collection_id,
                    KnowledgeChunk.embedding.is_(None),
                )
                .order_by(KnowledgeChunk.seq)
                .limit(size)
            )
        ).all()
    if not rows:
        return 0
    texts = [f"{title}\n{content}" if title else content for _, title, content in rows]
    vectors = await embedder.embed(texts)  # LLMError: transient ones are retried by the step
    async with steps.transaction("knowledge_embed") as session:
        for (seq, _, _), vector in zip(rows, vectors, strict=True):
            await session.execute(
                update(KnowledgeChunk)
                .where(KnowledgeChunk.seq == seq, KnowledgeChunk.embedding.is_(None))
                .values(embedding=vector)
            )
    return len(rows)


async def embed_collection(organization_id: str, collection_id: str) -> None:
    """The workflow `knowledge_embed` (registered by callplane.wiring)."""
    arguments = {"organization_id": organization_id, "collection_id": collection_id}
    for _ in range(MAX_BATCHES):
        try:
            done = await engine.run_step(
                _embed_batch, arguments, max_attempts=5, retry_if=tracking.is_transient
            )
        except Exception as error:
            if engine.is_engine_signal(error) and engine.retries_exhausted(error) is None:
                raise
            logger.warning(
                "embedding failed; passages stay keyword-only until the next change",
                extra={"collection_id": collection_id, "error": str(error)[:500]},
            )
            return
        if done == 0:
            return
