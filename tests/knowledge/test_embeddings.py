"""Semantic and hybrid search with embeddings from a local OpenAI-compatible stub server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from callplane.db.engine import Database
from callplane.knowledge.repository import CollectionRepository
from callplane.models import KnowledgeChunk
from callplane.workflows.runtime import runtime
from tests.factories import Tenant
from tests.knowledge.test_documents import new_collection
from tests.support.embeddings_stub import EmbeddingsStub

CORPUS = {
    "cars": "Our cars are serviced every spring by the garage next door.",
    "cleaning": "Spring cleaning of the office happens in April.",
    "doctor": "The physician sees patients on Mondays and Thursdays.",
    "refunds": "Refunds are paid back within five working days.",
    "dogs": "Dogs are welcome in the garden on a leash.",
    "parking": "Parking is free behind the building after six.",
}


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddingsStub]:
    """The running app's settings with the stub as embeddings endpoint (batches of 2)."""
    server = EmbeddingsStub()
    settings = runtime().settings.model_copy(
        update={
            "embeddings_base_url": server.url,
            "embeddings_api_key": "test",
            "embeddings_model": "stub-embeddings",
            "embeddings_batch_size": 2,
        }
    )
    monkeypatch.setattr(runtime(), "settings", settings)
    yield server
    server.close()


async def missing_vectors(database: Database, collection_id: str) -> int:
    async with database.session(write=False) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(KnowledgeChunk)
                .where(
                    KnowledgeChunk.collection_id == uuid.UUID(collection_id),
                    KnowledgeChunk.embedding.is_(None),
                )
            )
            or 0
        )


async def wait_embedded(database: Database, collection_id: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while await missing_vectors(database, collection_id):
        assert time.monotonic() < deadline, "passages still without embeddings"
        await asyncio.sleep(0.05)


async def corpus(tenant: Tenant) -> tuple[str, dict[str, str]]:
    collection_id = await new_collection(tenant)
    ids = {}
    for name, content in CORPUS.items():
        response = await tenant.post(
            f"/core/knowledge-collections/{collection_id}/documents",
            json={"content": content, "title": name},
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return collection_id, ids


async def ranked(tenant: Tenant, collection_id: str, query: str, mode: str | None) -> list[str]:
    body: dict[str, object] = {"query": query, "limit": 10}
    if mode:
        body["mode"] = mode
    response = await tenant.post(f"/core/knowledge-collections/{collection_id}/search", json=body)
    assert response.status_code == 200, response.text
    return [hit["title"] for hit in response.json()["results"]]


async def test_hybrid_ranking_on_a_corpus_with_known_answers(
    tenant: Tenant, database: Database, stub: EmbeddingsStub
) -> None:
    collection_id, _ = await corpus(tenant)
    await wait_embedded(database, collection_id)
    assert stub.texts_embedded >= len(CORPUS)
    assert all(len(r["input"]) <= 2 for r in stub.requests if isinstance(r["input"], list))

    # Keyword search cannot see synonyms; semantic search can.
    assert await ranked(tenant, collection_id, "automobile", "keyword") == []
    assert (await ranked(tenant, collection_id, "automobile", "semantic"))[0] == "cars"
    assert (await ranked(tenant, collection_id, "reimbursement", "semantic"))[0] == "refunds"
    assert (await ranked(tenant, collection_id, "medic", "semantic"))[0] == "doctor"

    # "vehicle parking": keyword search finds the parking passage only; semantic ranks parking
    # (parking x2 with its title) then cars (vehicle = car); fused: parking, then cars.
    assert await ranked(tenant, collection_id, "vehicle parking", "keyword") == ["parking"]
    assert (await ranked(tenant, collection_id, "vehicle parking", "semantic"))[:2] == [
        "parking",
        "cars",
    ]
    assert (await ranked(tenant, collection_id, "vehicle parking", "hybrid"))[:2] == [
        "parking",
        "cars",
    ]
    # "automobile spring": both rankings hold cars and cleaning; semantic puts cars first,
    # keyword either (bm25 prefers the shorter cleaning passage, ts_rank_cd does not). Each
    # fused score is the sum of 1/(60 + rank) over both rankings; a tie (opposite orders) keeps
    # the keyword order, so the fused order is the keyword order in both cases.
    keyword = await ranked(tenant, collection_id, "automobile spring", "keyword")
    semantic = await ranked(tenant, collection_id, "automobile spring", "semantic")
    assert sorted(keyword) == ["cars", "cleaning"] and semantic[:2] == ["cars", "cleaning"]
    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search",
        json={"query": "automobile spring", "mode": "hybrid", "limit": 10},
    )
    fused = {hit["title"]: hit["score"] for hit in response.json()["results"]}
    for title in ("cars", "cleaning"):
        expected = 1 / (60 + keyword.index(title) + 1) + 1 / (60 + semantic.index(title) + 1)
        assert fused[title] == pytest.approx(expected)
    hybrid = [hit["title"] for hit in response.json()["results"]]
    assert hybrid[:2] == keyword
    # Hybrid is the default once embeddings are configured.
    assert await ranked(tenant, collection_id, "automobile spring", None) == hybrid
    assert (await ranked(tenant, collection_id, "canine garden", None))[0] == "dogs"


async def test_passages_waiting_for_embeddings_are_found_by_keyword(
    tenant: Tenant, database: Database, stub: EmbeddingsStub
) -> None:
    collection_id = await new_collection(tenant)
    # Written without scheduling embeddings (as a step's passages are, until its run schedules
    # them): the passage waits for its vector.
    async with database.session(write=True) as session, session.begin():
        await CollectionRepository(session, tenant.organization_id).put_document(
            uuid.UUID(collection_id), "https://a.test/boat", "boat", "The boat leaves at noon."
        )
    assert await missing_vectors(database, collection_id) == 1
    assert await ranked(tenant, collection_id, "boat noon", None) == ["boat"]  # hybrid
    assert await ranked(tenant, collection_id, "boat", "semantic") == []  # no vector yet
    assert await missing_vectors(database, collection_id) == 1


async def test_failed_embedding_calls_are_retried(
    tenant: Tenant, database: Database, stub: EmbeddingsStub
) -> None:
    collection_id = await new_collection(tenant)
    stub.fail_next = 2  # two 503s, then answers: the step's retries (1 s, then 2 s) get through
    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/documents",
        json={"content": "Vehicles are washed on Fridays.", "title": "wash"},
    )
    assert response.status_code == 201
    await wait_embedded(database, collection_id, within=30)
    assert (await ranked(tenant, collection_id, "car", "semantic"))[0] == "wash"


async def test_a_failing_endpoint_leaves_hybrid_search_keyword_and_semantic_503(
    tenant: Tenant, database: Database, stub: EmbeddingsStub
) -> None:
    collection_id, _ = await corpus(tenant)
    await wait_embedded(database, collection_id)
    stub.fail_next = 1000
    assert (await ranked(tenant, collection_id, "parking", "hybrid"))[0] == "parking"
    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search",
        json={"query": "parking", "mode": "semantic"},
    )
    assert response.status_code == 503
    assert response.json()["code"] == "embeddings_unavailable"
