"""Knowledge search and ingestion, in process, on PostgreSQL (or any database URL given).

1. Keyword search p50/p95 over 100,000 passages of one organization (target: p50 ≤ 20 ms on
   PostgreSQL), through `KnowledgeSearch` exactly as the endpoint and the engine call it. The
   corpus is synthetic: 10,000 documents of ten ~800-character passages drawn from a 20,000-word
   vocabulary with a Zipf-like distribution, so queries mix rare and common words (documented in
   RESULTS.md). Queries are 2-4 words sampled the same way.
2. Hybrid search p50 over the same passages when embeddings are stored (vectors are written by
   the benchmark itself: no embeddings server), when the installed code supports it.
3. Ingest throughput of a 200-page PDF generated here: text extraction (pypdf) + cutting +
   inserting the passages (and so indexing them), in pages per second.

Usage: `.venv/bin/python -m benchmarks.knowledge [--database-url URL] [--chunks N] [--append]`
(`--append` adds a dated section to benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import make_url

from callplane.db import migrate
from callplane.db.engine import Database, create_engine
from callplane.db.types import new_id, utcnow
from callplane.knowledge.chunking import chunk_text
from callplane.knowledge.extract import extract
from callplane.knowledge.search import RECENT_CANDIDATES, KnowledgeSearch
from callplane.knowledge.service import KnowledgeService, content_hash
from callplane.llm.embeddings import pack
from callplane.models import KnowledgeChunk, KnowledgeCollection, KnowledgeDocument, Organization

RESULTS = Path(__file__).with_name("RESULTS.md")
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/callplane_bench_knowledge"
KEYWORD_TARGET_MS = 20.0
PASSAGES_PER_DOCUMENT = 10
VOCABULARY = 20_000
DIMENSIONS = 1536  # text-embedding-3-small's size


def vocabulary(rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bcdfgklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def zipf_weights(n: int) -> list[float]:
    return [1.0 / (rank + 1) for rank in range(n)]


def pdf_bytes(pages: list[str]) -> bytes:
    """A real PDF with a few lines of text per page (Helvetica, one content stream per page)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for page_text in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        lines = [page_text[i : i + 90] for i in range(0, len(page_text), 90)]
        ops = ["BT /F1 10 Tf 14 TL 50 750 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def reset(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False), pool_size=0
    )
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()


async def seed(
    database: Database, chunks: int, rng: random.Random, words: list[str]
) -> tuple[uuid.UUID, uuid.UUID]:
    weights = zipf_weights(len(words))
    organization_id, collection_id = new_id(), new_id()
    async with database.session(write=True) as session, session.begin():
        session.add(Organization(id=organization_id, name="bench"))
        await session.flush()
        session.add(
            KnowledgeCollection(id=collection_id, organization_id=organization_id, name="bench")
        )
    documents = max(1, chunks // PASSAGES_PER_DOCUMENT)
    batch = 200
    now = utcnow()
    for start in range(0, documents, batch):
        document_rows: list[dict[str, Any]] = []
        chunk_rows: list[dict[str, Any]] = []
        for d in range(start, min(documents, start + batch)):
            document_id = new_id()
            passages = [
                " ".join(rng.choices(words, weights, k=110)) + "."
                for _ in range(PASSAGES_PER_DOCUMENT)
            ]
            content = "\n".join(passages)
            document_rows.append(
                {
                    "id": document_id,
                    "organization_id": organization_id,
                    "collection_id": collection_id,
                    "url": f"https://bench.test/{d}",
                    "title": f"Document {d}",
                    "content": content,
                    "source": "url",
                    "content_type": "text/html",
                    "content_hash": content_hash(content),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            chunk_rows.extend(
                {
                    "id": new_id(),
                    "organization_id": organization_id,
                    "collection_id": collection_id,
                    "document_id": document_id,
                    "position": position,
                    "title": f"Document {d}",
                    "content": passage,
                    "created_at": now,
                }
                for position, passage in enumerate(passages)
            )
        async with database.session(write=True) as session, session.begin():
            await session.execute(insert(KnowledgeDocument), document_rows)
            await session.execute(insert(KnowledgeChunk), chunk_rows)
    if database.dialect == "postgresql":
        async with database.autocommit() as connection:
            await connection.execute(text("VACUUM ANALYZE knowledge_chunks"))
    return organization_id, collection_id


async def time_searches(
    database: Database,
    organization_id: uuid.UUID,
    collection_id: uuid.UUID,
    queries: list[str],
    mode: str,
) -> dict[str, float]:
    timings: list[float] = []
    hits = 0
    async with database.session(write=False) as session:
        search = KnowledgeSearch(session, organization_id)
        for query in queries[:20]:  # warm-up
            await search.search([collection_id], query, mode=mode)
        for query in queries:
            start = time.perf_counter()
            found = await search.search([collection_id], query, limit=5, mode=mode)
            timings.append((time.perf_counter() - start) * 1000)
            hits += bool(found)
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(len(timings) * 0.95) - 1],
        "found": hits / len(queries),
    }


class RandomEmbedder:
    """Stands in for an embeddings endpoint (no network): a random unit vector per text."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    async def embed(self, texts: list[str]) -> list[bytes]:
        return [pack([self.rng.gauss(0, 1) for _ in range(DIMENSIONS)]) for _ in texts]


async def embed_passages(
    database: Database, collection_id: uuid.UUID, rng: random.Random, count: int
) -> None:
    """Vectors for the `count` newest passages and every passage some query may hit first:
    the ones semantic ranking reads (the newest) get real-size vectors."""
    embedder = RandomEmbedder(rng)
    async with database.session(write=True) as session, session.begin():
        seqs = (
            await session.scalars(
                select(KnowledgeChunk.seq)
                .where(KnowledgeChunk.collection_id == collection_id)
                .order_by(KnowledgeChunk.seq.desc())
                .limit(count)
            )
        ).all()
        vectors = await embedder.embed(["x"] * len(seqs))
        for seq, vector in zip(seqs, vectors, strict=True):
            await session.execute(
                update(KnowledgeChunk).where(KnowledgeChunk.seq == seq).values(embedding=vector)
            )


async def time_hybrid(
    database: Database,
    organization_id: uuid.UUID,
    collection_id: uuid.UUID,
    queries: list[str],
    rng: random.Random,
) -> dict[str, float]:
    timings: list[float] = []
    async with database.session(write=False) as session:
        search = KnowledgeSearch(
            session,
            organization_id,
            embedder=RandomEmbedder(rng),  # type: ignore[arg-type]
        )
        for query in queries[:20]:
            await search.search([collection_id], query, mode="hybrid")
        for query in queries:
            start = time.perf_counter()
            await search.search([collection_id], query, limit=5, mode="hybrid")
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {"p50": statistics.median(timings), "p95": timings[int(len(timings) * 0.95) - 1]}


async def ingest_pdf(database: Database, rng: random.Random, words: list[str]) -> dict[str, float]:
    pages = [" ".join(rng.choices(words, k=300)) for _ in range(200)]
    data = pdf_bytes(pages)
    async with database.session(write=True) as session, session.begin():
        organization_id = new_id()
        session.add(Organization(id=organization_id, name="pdf"))
        await session.flush()
        collection = KnowledgeCollection(organization_id=organization_id, name="pdf")
        session.add(collection)
    start = time.perf_counter()
    extracted = await asyncio.to_thread(extract, data, "application/pdf")
    parsed = time.perf_counter()
    async with database.session(write=True) as session, session.begin():
        await KnowledgeService(session, organization_id).add_document(
            collection.id, extracted, source="upload", filename="bench.pdf"
        )
    stored = time.perf_counter()
    return {
        "bytes": len(data),
        "passages": len(chunk_text(extracted.text)),
        "extract_s": parsed - start,
        "store_s": stored - parsed,
        "pages_per_s": 200 / (stored - start),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    words = vocabulary(rng)
    if not args.skip_seed:
        await reset(args.database_url)
    await asyncio.to_thread(migrate.upgrade, args.database_url)
    database = Database(create_engine(args.database_url, pool_size=2))
    try:
        started = time.perf_counter()
        if args.skip_seed:
            async with database.session(write=False) as session:
                row = (
                    await session.execute(
                        text(
                            "SELECT organization_id, id FROM knowledge_collections "
                            "WHERE name = 'bench'"
                        )
                    )
                ).one()
            organization_id, collection_id = uuid.UUID(str(row[0])), uuid.UUID(str(row[1]))
        else:
            organization_id, collection_id = await seed(database, args.chunks, rng, words)
        seeded = time.perf_counter() - started
        weights = zipf_weights(len(words))
        queries = [
            " ".join(rng.choices(words[50:], weights[50:], k=rng.randint(2, 4)))
            for _ in range(args.queries)
        ]
        keyword = await time_searches(database, organization_id, collection_id, queries, "keyword")
        await embed_passages(database, collection_id, rng, RECENT_CANDIDATES + 100)
        hybrid = await time_hybrid(database, organization_id, collection_id, queries, rng)
        pdf = await ingest_pdf(database, rng, words)
    finally:
        await database.dispose()
    return {
        "chunks": args.chunks,
        "seed_s": seeded,
        "keyword": keyword,
        "hybrid": hybrid,
        "pdf": pdf,
        "dialect": make_url(args.database_url).get_backend_name(),
    }


def render(result: dict[str, Any]) -> str:
    keyword, pdf = result["keyword"], result["pdf"]
    verdict = "PASS" if keyword["p50"] <= KEYWORD_TARGET_MS else "FAIL"
    load = os.getloadavg()
    return "\n".join(
        [
            "",
            f"## Knowledge search and ingestion ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"`python -m benchmarks.knowledge --append` on {result['dialect']}, "
            f"{os.cpu_count()} cores (shared with other work: load average "
            f"{load[0]:.2f}), in process through `KnowledgeSearch` (no HTTP).",
            f"Corpus: {result['chunks']:,} passages of ~800 characters in one collection "
            f"(10 per document), words drawn Zipf-like from a {VOCABULARY:,}-word synthetic "
            f"vocabulary; queries of 2-4 words drawn the same way from all but the 50 most "
            f"common words."
            + (f" Seeding took {result['seed_s']:.0f} s." if result["seed_s"] > 1 else ""),
            "",
            "| Figure | Measured | Target | Result |",
            "|---|---|---|---|",
            f"| keyword search p50 at {result['chunks']:,} passages | {keyword['p50']:.1f} ms "
            f"| ≤ {KEYWORD_TARGET_MS:.0f} ms | **{verdict}** |",
            f"| keyword search p95 | {keyword['p95']:.1f} ms | — | — |",
            f"| queries with at least one hit | {keyword['found']:.0%} | — | — |",
            f"| hybrid search p50 ({DIMENSIONS}-dimension vectors, query embedding excluded) "
            f"| {result['hybrid']['p50']:.1f} ms | — | — |",
            f"| hybrid search p95 | {result['hybrid']['p95']:.1f} ms | — | — |",
            f"| 200-page PDF ({pdf['bytes'] / 1024:.0f} KiB, {pdf['passages']} passages): "
            f"extract | {pdf['extract_s']:.2f} s | — | — |",
            f"| 200-page PDF: cut, insert and index | {pdf['store_s']:.2f} s | — | — |",
            f"| 200-page PDF ingest throughput | {pdf['pages_per_s']:.0f} pages/s | — | — |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=PG_URL)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--append", action="store_true")
    parser.add_argument(
        "--skip-seed", action="store_true", help="reuse the corpus of an earlier run"
    )
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    section = render(result)
    print(section)
    if args.append:
        with RESULTS.open("a") as results:
            results.write(section)


if __name__ == "__main__":
    main()
