"""Searching knowledge collections: what the search endpoint and the conversation engine use.

Keyword search is the database's own full-text search over the passages cut when documents are
written (`chunking`): PostgreSQL ranks its `tsvector` matches with `ts_rank_cd`, SQLite its FTS5
matches with `bm25`. Both stem English (PostgreSQL's `english` configuration, FTS5's `porter`).

A query is never handed to either query language as written: it is reduced to its words
(`query_terms`), and a passage matches when it contains any of them (OR), ranked by how well it
matches. So `"C++ (2024)" AND -foo*` is a search for `c`, `2024`, `and` and `foo`, never a syntax
error. On PostgreSQL a passage that holds every word of the query is ranked above those that do
not (`ts_rank_cd` has no inverse document frequency to do it, as `bm25` does).

Tenancy: only the passages of the organization's own collections are searched; an id of another
organization's collection, or of none, contributes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Float, String, Text, TextClause, Uuid, bindparam, column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from callplane.db.dialect import is_postgres
from callplane.knowledge.embedding import configured_embedder
from callplane.knowledge.errors import EmbeddingsNotConfigured, EmbeddingsUnavailable
from callplane.llm.embeddings import Embedder, similarity, unpack
from callplane.llm.provider import LLMError
from callplane.models import KnowledgeChunk, KnowledgeDocument

SearchMode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[str, ...] = get_args(SearchMode)
MAX_TERMS = 32  # words of a query that are searched for; the rest is ignored
MAX_TERM_CHARS = 100  # a longer "word" is cut (PostgreSQL does not index words over 2 KB)
MAX_LIMIT = 50
KEYWORD_CANDIDATES = 50  # keyword hits ranked (and fused) in semantic and hybrid search
RECENT_CANDIDATES = 200  # most recent passages also ranked by similarity (see docs/knowledge.md)
RRF_K = 60  # reciprocal rank fusion's constant (the usual one)
logger = logging.getLogger("callplane.knowledge")
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; everything else separates
# PostgreSQL's `english` configuration drops these words (Snowball's English stop list) from
# queries; SQLite's FTS5 has no stop words, so they are dropped from its queries here: both
# databases then read "what are your opening hours" as "opening hours".
_STOP_WORDS = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his
himself she her hers herself it its itself they them their theirs themselves what which
who whom this that these those am is are was were be been being have has had having do
does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on
off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will
just don should now
"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class SearchHit:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    collection_id: uuid.UUID
    title: str | None
    url: str | None
    text: str
    score: float  # higher is better; comparable only within one search


def query_terms(query: str) -> list[str]:
    """The distinct words of `query`, lowercased, in order: what is searched for."""
    terms: list[str] = []
    for match in _WORD.finditer(query.lower()):
        term = match.group()[:MAX_TERM_CHARS]
        if term not in terms:
            terms.append(term)
            if len(terms) == MAX_TERMS:
                break
    return terms


_COLUMNS = (
    column("id", Uuid()),
    column("document_id", Uuid()),
    column("collection_id", Uuid()),
    column("title", String()),
    column("url", String()),
    column("content", Text()),
    column("score", Float()),
)

# `any_terms`: the query's lexemes (stemmed by the `english` configuration, common ones left out,
# see `_lexemes`), quoted and joined by `|` for to_tsquery('simple') (no second stemming);
# `all_terms`: the words joined by spaces for plainto_tsquery (every word). At most
# `candidates` matching passages are ranked (any of them: see docs/knowledge.md).
_POSTGRES = text(
    """
    SELECT c.id, c.document_id, c.collection_id, c.title, d.url, c.content,
           ts_rank_cd(c.search_vector, q.any_terms)
             + CASE WHEN c.search_vector @@ q.all_terms THEN 1.0 ELSE 0.0 END AS score
    FROM (SELECT to_tsquery('simple', :any_terms) AS any_terms,
                 plainto_tsquery('english', :all_terms) AS all_terms) AS q,
         LATERAL (
           SELECT m.seq, m.id, m.document_id, m.collection_id, m.title, m.content,
                  m.search_vector
           FROM knowledge_chunks AS m
           WHERE m.search_vector @@ q.any_terms
             AND m.organization_id = :organization_id
             AND m.collection_id IN :collection_ids
           LIMIT :candidates
         ) AS c
    JOIN knowledge_documents AS d ON d.id = c.document_id
    ORDER BY score DESC, c.seq
    LIMIT :limit
    """
)
_LEXEMES = text("SELECT lexeme FROM unnest(to_tsvector('english', :words))")
_STATISTICS = text(
    """
    SELECT most_common_elems::text::text[] AS lexemes, most_common_elem_freqs AS frequencies
    FROM pg_stats
    WHERE schemaname = current_schema() AND tablename = 'knowledge_chunks'
      AND attname = 'search_vector'
      AND (SELECT reltuples FROM pg_class WHERE oid = 'knowledge_chunks'::regclass)
          >= :minimum
    """
)
COMMON_FREQUENCY = 0.01  # a lexeme in more passages than this is left out of queries...
MAX_RANKED = 1000  # ...and at most this many matching passages are ranked
PRUNE_FROM_PASSAGES = 50_000  # below this many passages (all organizations), nothing is left out
STATISTICS_TTL_SECONDS = 300.0
_statistics: dict[int, tuple[float, dict[str, float]]] = {}


async def _lexeme_frequencies(session: AsyncSession) -> dict[str, float]:
    """The share of passages holding each of the most common lexemes, from the planner's
    statistics (ANALYZE keeps them for tsvector columns), cached a few minutes per engine; none
    while the table is smaller than PRUNE_FROM_PASSAGES (ranking every match is cheap then)."""
    key = id(session.get_bind())
    cached = _statistics.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < STATISTICS_TTL_SECONDS:
        return cached[1]
    row = (await session.execute(_STATISTICS, {"minimum": PRUNE_FROM_PASSAGES})).first()
    frequencies: dict[str, float] = {}
    if row is not None and row.lexemes and row.frequencies:
        frequencies = dict(zip(row.lexemes, row.frequencies, strict=False))
    _statistics[key] = (now, frequencies)
    return frequencies


async def _lexemes(session: AsyncSession, terms: list[str]) -> list[str]:
    """The query's lexemes worth searching: English stop words are gone (to_tsvector), and so are
    lexemes in more than COMMON_FREQUENCY of all passages, unless all are (then the rarest is
    kept): like stop words, they would match a large share of the passages and rank little."""
    words = " ".join(terms)
    lexemes = list(dict.fromkeys((await session.scalars(_LEXEMES, {"words": words})).all()))
    if not lexemes:
        return []
    frequencies = await _lexeme_frequencies(session)
    rare = [lexeme for lexeme in lexemes if frequencies.get(lexeme, 0.0) <= COMMON_FREQUENCY]
    return rare or [min(lexemes, key=lambda lexeme: frequencies.get(lexeme, 0.0))]


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# `match`: the terms as FTS5 strings ("term"), joined by OR. Title weighs twice the text.
_SQLITE = text(
    """
    SELECT c.id, c.document_id, c.collection_id, c.title, d.url, c.content,
           -bm25(knowledge_chunks_fts, 2.0, 1.0) AS score
    FROM knowledge_chunks_fts
    JOIN knowledge_chunks AS c ON c.seq = knowledge_chunks_fts.rowid
    JOIN knowledge_documents AS d ON d.id = c.document_id
    WHERE knowledge_chunks_fts MATCH :match
      AND c.organization_id = :organization_id
      AND c.collection_id IN :collection_ids
    ORDER BY score DESC, c.seq
    LIMIT :limit
    """
)


def _prepared(statement: TextClause) -> TextualSelect:
    return statement.bindparams(
        bindparam("organization_id", type_=Uuid()),
        bindparam("collection_ids", expanding=True, type_=Uuid()),
    ).columns(*_COLUMNS)


_POSTGRES_QUERY = _prepared(_POSTGRES)
_SQLITE_QUERY = _prepared(_SQLITE)


class KnowledgeSearch:
    """Ranked passages of an organization's collections for a query."""

    def __init__(
        self,
        session: AsyncSession,
        organization_id: uuid.UUID,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.session = session
        self.organization_id = organization_id
        self.embedder = embedder if embedder is not None else configured_embedder()

    async def search(
        self,
        collection_ids: Sequence[uuid.UUID],
        query: str,
        *,
        limit: int = 5,
        mode: str | None = None,
    ) -> list[SearchHit]:
        """The best `limit` passages (1..50) for `query` in the given collections, best first.

        `mode`: `keyword` (full-text search), `semantic` (embeddings: EmbeddingsNotConfigured
        without an endpoint), `hybrid` (both, by reciprocal rank fusion; keyword search while no
        endpoint is configured, or when it fails). None: `hybrid` when embeddings are
        configured, else `keyword`."""
        if mode is None:
            mode = "hybrid" if self.embedder is not None else "keyword"
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; one of {', '.join(MODES)}")
        limit = max(1, min(limit, MAX_LIMIT))
        if mode == "keyword":
            return await self.keyword(collection_ids, query, limit=limit)
        if self.embedder is None:
            if mode == "semantic":
                raise EmbeddingsNotConfigured()
            return await self.keyword(collection_ids, query, limit=limit)
        keyword = await self.keyword(collection_ids, query, limit=KEYWORD_CANDIDATES)
        try:
            [packed] = await self.embedder.embed([query])
        except LLMError as error:
            if mode == "semantic":
                raise EmbeddingsUnavailable(str(error)) from None
            logger.warning("query embedding failed; keyword results only: %s", error)
            return keyword[:limit]
        semantic = await self._semantic(collection_ids, unpack(packed), keyword)
        if mode == "semantic":
            return semantic[:limit]
        return fuse(keyword, semantic)[:limit]

    async def _semantic(
        self,
        collection_ids: Sequence[uuid.UUID],
        vector: Sequence[float],
        keyword: list[SearchHit],
    ) -> list[SearchHit]:
        """Candidates (the keyword hits and the most recent passages, those with a vector),
        ranked by cosine similarity to the query. See docs/knowledge.md for the limit."""
        ids = list(dict.fromkeys(collection_ids))
        if not ids:
            return []
        c, d = KnowledgeChunk, KnowledgeDocument
        columns = (c.id, c.document_id, c.collection_id, c.title, d.url, c.content, c.embedding)
        scope = (
            c.organization_id == self.organization_id,
            c.collection_id.in_(ids),
            c.embedding.is_not(None),
        )
        recent = (
            select(*columns)
            .join(d, d.id == c.document_id)
            .where(*scope)
            .order_by(c.seq.desc())
            .limit(RECENT_CANDIDATES)
        )
        rows = list((await self.session.execute(recent)).all())
        seen = {row.id for row in rows}
        missing = [hit.chunk_id for hit in keyword if hit.chunk_id not in seen]
        if missing:
            more = select(*columns).join(d, d.id == c.document_id).where(*scope, c.id.in_(missing))
            rows.extend((await self.session.execute(more)).all())
        scored = [
            SearchHit(
                chunk_id=row.id,
                document_id=row.document_id,
                collection_id=row.collection_id,
                title=row.title,
                url=row.url,
                text=row.content,
                score=similarity(vector, unpack(row.embedding)),
            )
            for row in rows
        ]
        scored.sort(key=lambda hit: hit.score, reverse=True)
        return scored

    async def keyword(
        self, collection_ids: Sequence[uuid.UUID], query: str, *, limit: int
    ) -> list[SearchHit]:
        """Full-text search (see the module's docstring for how a query is read)."""
        terms = query_terms(query)
        ids = list(dict.fromkeys(collection_ids))
        if not terms or not ids:
            return []
        params: dict[str, Any] = {
            "organization_id": self.organization_id,
            "collection_ids": ids,
            "limit": limit,
        }
        if is_postgres(self.session):
            lexemes = await _lexemes(self.session, terms)
            if not lexemes:
                return []
            statement = _POSTGRES_QUERY
            params["any_terms"] = " | ".join(_quoted(lexeme) for lexeme in lexemes)
            params["all_terms"] = " ".join(terms)
            params["candidates"] = MAX_RANKED
        else:
            statement = _SQLITE_QUERY
            words = [term for term in terms if term not in ENGLISH_STOP_WORDS]
            if not words:
                return []
            params["match"] = " OR ".join(f'"{word}"' for word in words)
        rows = (await self.session.execute(statement, params)).all()
        return [
            SearchHit(
                chunk_id=row.id,
                document_id=row.document_id,
                collection_id=row.collection_id,
                title=row.title,
                url=row.url,
                text=row.content,
                score=float(row.score),
            )
            for row in rows
        ]


def fuse(*rankings: list[SearchHit], k: int = RRF_K) -> list[SearchHit]:
    """Reciprocal rank fusion: each passage scores the sum of 1 / (k + rank) over the rankings
    it is in (rank from 1); ties keep the first ranking's order."""
    scores: dict[uuid.UUID, float] = {}
    hits: dict[uuid.UUID, SearchHit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
            hits.setdefault(hit.chunk_id, hit)
    order = sorted(scores, key=lambda chunk_id: scores[chunk_id], reverse=True)
    return [dataclasses.replace(hits[chunk_id], score=scores[chunk_id]) for chunk_id in order]
