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

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Float, String, Text, TextClause, Uuid, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from callplane.db.dialect import is_postgres
from callplane.knowledge.errors import EmbeddingsNotConfigured

SearchMode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[str, ...] = get_args(SearchMode)
MAX_TERMS = 32  # words of a query that are searched for; the rest is ignored
MAX_TERM_CHARS = 100  # a longer "word" is cut (PostgreSQL does not index words over 2 KB)
MAX_LIMIT = 50
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

# `any_terms`: the terms joined by " or " for websearch_to_tsquery (which never raises on its
# input); `all_terms`: the terms joined by spaces for plainto_tsquery (every term).
_POSTGRES = text(
    """
    SELECT c.id, c.document_id, c.collection_id, c.title, d.url, c.content,
           ts_rank_cd(c.search_vector, q.any_terms)
             + CASE WHEN c.search_vector @@ q.all_terms THEN 1.0 ELSE 0.0 END AS score
    FROM (SELECT websearch_to_tsquery('english', :any_terms) AS any_terms,
                 plainto_tsquery('english', :all_terms) AS all_terms) AS q,
         knowledge_chunks AS c
    JOIN knowledge_documents AS d ON d.id = c.document_id
    WHERE c.search_vector @@ q.any_terms
      AND c.organization_id = :organization_id
      AND c.collection_id IN :collection_ids
    ORDER BY score DESC, c.seq
    LIMIT :limit
    """
)

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

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    async def search(
        self,
        collection_ids: Sequence[uuid.UUID],
        query: str,
        *,
        limit: int = 5,
        mode: str = "keyword",
    ) -> list[SearchHit]:
        """The best `limit` passages (1..50) for `query` in the given collections, best first.

        `mode`: `keyword` (full-text search); `hybrid` is keyword search while no embeddings are
        configured; `semantic` needs embeddings (EmbeddingsNotConfigured otherwise)."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; one of {', '.join(MODES)}")
        if mode == "semantic":
            raise EmbeddingsNotConfigured()
        return await self.keyword(collection_ids, query, limit=limit)

    async def keyword(
        self, collection_ids: Sequence[uuid.UUID], query: str, *, limit: int
    ) -> list[SearchHit]:
        """Full-text search (see the module's docstring for how a query is read)."""
        limit = max(1, min(limit, MAX_LIMIT))
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
            statement = _POSTGRES_QUERY
            params["any_terms"] = " or ".join(term for term in terms if term != "or")
            params["all_terms"] = " ".join(terms)
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
