"""Keyword search over knowledge passages, on the database's own full-text search."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text

from callplane.db.engine import Database
from callplane.knowledge.repository import CollectionRepository
from callplane.knowledge.search import KnowledgeSearch
from callplane.models import KnowledgeChunk, KnowledgeCollection
from tests.factories import Tenant

PAGES = {
    "https://clinic.test/hours": (
        "Opening hours",
        "We are open Monday to Friday from 9 am to 5 pm. On Saturdays we open at 10 am.",
    ),
    "https://clinic.test/emergencies": (
        "Emergencies",
        "For a dental emergency call us at once: emergency appointments are available the "
        "same day. Out of hours, the emergency line forwards to the dentist on call.",
    ),
    "https://clinic.test/billing": (
        "Billing and insurance",
        "We accept most insurance plans. Invoices are sent by email; payment is due in 30 days.",
    ),
    "https://clinic.test/whitening": (
        "Teeth whitening",
        "Whitening takes one visit of about an hour and lasts up to two years.",
    ),
}


async def make_collection(
    database: Database, organization_id: uuid.UUID, pages: dict[str, tuple[str, str]] = PAGES
) -> uuid.UUID:
    async with database.session(write=True) as session, session.begin():
        repo = CollectionRepository(session, organization_id)
        collection = repo.add(KnowledgeCollection(name="Clinic"))
        await session.flush()
        for url, (title, content) in pages.items():
            await repo.put_document(collection.id, url, title, content)
    return collection.id


async def search(tenant: Tenant, collection_id: uuid.UUID, **body: object) -> list[dict]:
    response = await tenant.post(f"/core/knowledge-collections/{collection_id}/search", json=body)
    assert response.status_code == 200, response.text
    results: list[dict] = response.json()["results"]
    return results


async def test_the_best_passage_comes_first(tenant: Tenant, database: Database) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    results = await search(tenant, collection_id, query="When are you open on Saturday?")
    assert results[0]["url"] == "https://clinic.test/hours"
    assert results[0]["title"] == "Opening hours"
    assert "Saturdays" in results[0]["text"]
    assert set(results[0]) == {
        "chunk_id",
        "document_id",
        "collection_id",
        "title",
        "url",
        "text",
        "score",
    }
    assert results[0]["collection_id"] == str(collection_id)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)

    # Stemming: "emergencies" finds "emergency"; "invoice" finds "Invoices".
    assert (await search(tenant, collection_id, query="emergencies"))[0]["url"].endswith(
        "/emergencies"
    )
    assert (await search(tenant, collection_id, query="invoice"))[0]["url"].endswith("/billing")
    # A title counts: "insurance" is in the billing page's title and text.
    assert (await search(tenant, collection_id, query="insurance", limit=1))[0]["url"].endswith(
        "/billing"
    )
    assert await search(tenant, collection_id, query="helicopter") == []


async def test_limit_and_every_matching_passage(tenant: Tenant, database: Database) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    # "hour" is in three pages (hours, out of hours, an hour).
    found = await search(tenant, collection_id, query="hour", limit=50)
    assert {r["url"] for r in found} == {
        "https://clinic.test/hours",
        "https://clinic.test/emergencies",
        "https://clinic.test/whitening",
    }
    assert len(await search(tenant, collection_id, query="hour", limit=2)) == 2


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "hours AND OR NOT",
        "NEAR(hours, 2)",
        "title:hours",
        "hours*",
        "-hours",
        "^hours",
        "(((hours",
        "hours & | ! <-> :*",
        "' OR 1=1 --",
        "\\'; DROP TABLE knowledge_chunks; --",
        "{hours}",
        "hours\u0301",
        "🙂 hours 🙂",
        "x" * 1999,
        "or",
        "and",
        "the of a",
    ],
)
async def test_hostile_queries_are_searched_as_words(
    tenant: Tenant, database: Database, query: str
) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    results = await search(tenant, collection_id, query=query)
    if "hours" in query:
        assert results and results[0]["url"] == "https://clinic.test/hours"


async def test_punctuation_only_finds_nothing(tenant: Tenant, database: Database) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    assert await search(tenant, collection_id, query="?!* () -- ::") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": ""},
        {"query": "   \n "},
        {"query": "x" * 2001},
        {"query": "hours", "limit": 0},
        {"query": "hours", "limit": 51},
        {"query": "hours", "mode": "fuzzy"},
        {"query": "hours", "extra": 1},
        {"query": "hours\u0000"},
        {"query": 5},
    ],
)
async def test_bad_requests_are_422(tenant: Tenant, database: Database, body: dict) -> None:
    collection_id = await make_collection(database, tenant.organization_id, {})
    response = await tenant.post(f"/core/knowledge-collections/{collection_id}/search", json=body)
    assert response.status_code == 422, response.text


async def test_semantic_search_needs_embeddings_and_hybrid_falls_back(
    tenant: Tenant, database: Database
) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    path = f"/core/knowledge-collections/{collection_id}/search"
    response = await tenant.post(path, json={"query": "hours", "mode": "semantic"})
    assert response.status_code == 422
    assert response.json()["code"] == "embeddings_not_configured"
    keyword = await search(tenant, collection_id, query="hours", mode="keyword")
    assert await search(tenant, collection_id, query="hours", mode="hybrid") == keyword


async def test_another_organizations_collection_is_404_and_contributes_nothing(
    tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    theirs = await make_collection(database, other_tenant.organization_id)
    response = await tenant.post(
        f"/core/knowledge-collections/{theirs}/search", json={"query": "hours"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "knowledge_collection_not_found"
    unknown = await tenant.post(
        f"/core/knowledge-collections/{uuid.uuid4()}/search", json={"query": "hours"}
    )
    assert unknown.status_code == 404

    ours = await make_collection(
        database, tenant.organization_id, {"https://a.test/": ("A", "hours")}
    )
    async with database.session(write=False) as session:
        found = await KnowledgeSearch(session, tenant.organization_id).search(
            [theirs, ours, uuid.uuid4()], "hours", limit=50
        )
        assert {hit.collection_id for hit in found} == {ours}
        assert (
            await KnowledgeSearch(session, tenant.organization_id).search([theirs], "hours") == []
        )
        assert await KnowledgeSearch(session, other_tenant.organization_id).search(
            [theirs], "hours"
        )


async def test_a_read_scope_is_enough(tenant: Tenant, database: Database) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    headers = await tenant.key_with("knowledge_bases:read")
    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search",
        json={"query": "hours"},
        headers=headers,
    )
    assert response.status_code == 200
    refused = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search",
        json={"query": "hours"},
        headers=await tenant.key_with("agents:read"),
    )
    assert refused.status_code == 403


async def test_rewriting_a_document_replaces_its_passages(
    tenant: Tenant, database: Database, is_postgres: bool
) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    long_text = "\n".join(f"Paragraph {i}: " + "periodontal care " * 20 for i in range(20))
    async with database.session(write=True) as session, session.begin():
        repo = CollectionRepository(session, tenant.organization_id)
        await repo.put_document(collection_id, "https://clinic.test/long", "Long", long_text)
    assert len(await search(tenant, collection_id, query="periodontal", limit=50)) > 5

    async with database.session(write=True) as session, session.begin():
        repo = CollectionRepository(session, tenant.organization_id)
        await repo.put_document(
            collection_id, "https://clinic.test/long", "Orthodontics", "Braces and aligners."
        )
    assert await search(tenant, collection_id, query="periodontal") == []
    [hit] = await search(tenant, collection_id, query="aligners")
    assert hit["title"] == "Orthodontics" and hit["url"] == "https://clinic.test/long"

    # Deleting the collection takes its passages, and their index entries, with it.
    async with database.session(write=True) as session, session.begin():
        repo = CollectionRepository(session, tenant.organization_id)
        collection = await repo.get(collection_id)
        assert collection is not None
        await repo.delete(collection)
    async with database.session(write=False) as session:
        left = await session.scalar(
            select(func.count())
            .select_from(KnowledgeChunk)
            .where(KnowledgeChunk.collection_id == collection_id)
        )
        assert left == 0
        if not is_postgres:  # the FTS5 index has no entry for a passage that is gone
            orphans = await session.scalar(
                text(
                    "SELECT count(*) FROM knowledge_chunks_fts WHERE knowledge_chunks_fts "
                    "MATCH 'aligners' AND rowid NOT IN (SELECT seq FROM knowledge_chunks)"
                )
            )
            assert orphans == 0
