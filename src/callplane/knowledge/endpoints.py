"""`/core/knowledge-collections`: what agents can search (crawled pages, for now)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter

from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.db.session import ReadSession
from callplane.errors import merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.knowledge.errors import CollectionNotFound, EmbeddingsNotConfigured
from callplane.knowledge.repository import CollectionRepository
from callplane.knowledge.schemas import (
    CollectionDetail,
    CollectionRead,
    DocumentRead,
    SearchRequest,
    SearchResult,
    SearchResults,
)
from callplane.knowledge.search import KnowledgeSearch

router = APIRouter(prefix="/core/knowledge-collections", tags=["knowledge"])

Reader = Annotated[AuthSubject, Requires(Scope.KNOWLEDGE_BASES_READ, Scope.KNOWLEDGE_BASES_MANAGE)]


@router.get("", response_model=Page[CollectionRead], responses=merge_responses(InvalidCursor))
async def list_knowledge_collections(
    subject: Reader, session: ReadSession, limit: LimitParam = 20, cursor: CursorParam = None
) -> Page[CollectionRead]:
    rows, next_cursor = await CollectionRepository(session, subject.organization_id).list(
        limit=limit, cursor=cursor
    )
    return Page.of([CollectionRead.model_validate(row) for row in rows], limit, next_cursor)


@router.get(
    "/{collection_id}",
    response_model=CollectionDetail,
    responses=merge_responses(CollectionNotFound),
)
async def get_knowledge_collection(
    collection_id: uuid.UUID, subject: Reader, session: ReadSession
) -> CollectionDetail:
    """A collection with its documents (e.g. the pages crawled from a website)."""
    repo = CollectionRepository(session, subject.organization_id)
    collection = await repo.get(collection_id)
    if collection is None:
        raise CollectionNotFound()
    documents = await repo.documents(collection_id)
    return CollectionDetail(
        **CollectionRead.model_validate(collection).model_dump(),
        documents=[DocumentRead.model_validate(d) for d in documents],
    )


@router.post(
    "/{collection_id}/search",
    response_model=SearchResults,
    responses=merge_responses(CollectionNotFound, EmbeddingsNotConfigured),
)
async def search_knowledge_collection(
    collection_id: uuid.UUID, body: SearchRequest, subject: Reader, session: ReadSession
) -> SearchResults:
    """The passages of the collection's documents that best match `query`, best first: the same
    search an agent's conversation runs over its knowledge bases. Any text is a valid query (it
    is reduced to its words); a query of punctuation only finds nothing."""
    if await CollectionRepository(session, subject.organization_id).get(collection_id) is None:
        raise CollectionNotFound()
    search = KnowledgeSearch(session, subject.organization_id)
    hits = await search.search(
        [collection_id], body.query, limit=body.limit, mode=body.mode or "keyword"
    )
    return SearchResults(results=[SearchResult.model_validate(hit) for hit in hits])
