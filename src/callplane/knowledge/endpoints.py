"""`/core/knowledge-collections`: what agents can search (crawled pages, for now)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject
from callplane.crawler.errors import CrawlError, PrivateAddress
from callplane.crawler.guard import check_start
from callplane.db.session import ReadSession, WriteSession
from callplane.errors import merge_responses
from callplane.kit.pagination import CursorParam, InvalidCursor, LimitParam
from callplane.kit.schemas import Page
from callplane.knowledge.errors import (
    CollectionInUse,
    CollectionNotFound,
    DocumentNotFound,
    EmbeddingsNotConfigured,
    EmbeddingsUnavailable,
    UnreadableDocument,
    UnsupportedDocumentType,
    UploadInvalid,
    UrlRefused,
)
from callplane.knowledge.repository import CollectionRepository
from callplane.knowledge.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionRead,
    CollectionUpdate,
    CrawlRequest,
    DocumentCreate,
    DocumentCreated,
    DocumentRead,
    DocumentSummary,
    SearchRequest,
    SearchResult,
    SearchResults,
)
from callplane.knowledge.search import KnowledgeSearch
from callplane.knowledge.service import KnowledgeService
from callplane.knowledge.uploads import read_document
from callplane.workflows.errors import WorkflowEngineUnavailable
from callplane.workflows.schemas import WorkflowAccepted
from callplane.workflows.service import derive_workflow_id

router = APIRouter(prefix="/core/knowledge-collections", tags=["knowledge"])

Reader = Annotated[AuthSubject, Requires(Scope.KNOWLEDGE_BASES_READ, Scope.KNOWLEDGE_BASES_MANAGE)]
Manager = Annotated[AuthSubject, Requires(Scope.KNOWLEDGE_BASES_MANAGE)]


@router.get("", response_model=Page[CollectionRead], responses=merge_responses(InvalidCursor))
async def list_knowledge_collections(
    subject: Reader,
    session: ReadSession,
    name: Annotated[
        str | None, Query(max_length=200, description="Case-insensitive substring.")
    ] = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[CollectionRead]:
    rows, next_cursor = await CollectionRepository(session, subject.organization_id).list(
        limit=limit, cursor=cursor, name=name
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
    responses=merge_responses(CollectionNotFound, EmbeddingsNotConfigured, EmbeddingsUnavailable),
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
    hits = await search.search([collection_id], body.query, limit=body.limit, mode=body.mode)
    return SearchResults(results=[SearchResult.model_validate(hit) for hit in hits])


# Managing collections


@router.post(
    "",
    status_code=201,
    response_model=CollectionRead,
)
async def create_knowledge_collection(
    body: CollectionCreate, subject: Manager, session: WriteSession
) -> CollectionRead:
    """An empty collection; add documents, files and web pages to it."""
    collection = await KnowledgeService(session, subject.organization_id).create(body)
    return CollectionRead.model_validate(collection)


@router.patch(
    "/{collection_id}",
    response_model=CollectionRead,
    responses=merge_responses(CollectionNotFound),
)
async def update_knowledge_collection(
    collection_id: uuid.UUID, body: CollectionUpdate, subject: Manager, session: WriteSession
) -> CollectionRead:
    collection = await KnowledgeService(session, subject.organization_id).update(
        collection_id, body
    )
    return CollectionRead.model_validate(collection)


@router.delete(
    "/{collection_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(CollectionNotFound, CollectionInUse),
)
async def delete_knowledge_collection(
    collection_id: uuid.UUID, subject: Manager, session: WriteSession
) -> None:
    """Delete the collection and its documents. 409 `knowledge_collection_in_use` (naming them)
    while published agent versions use it."""
    await KnowledgeService(session, subject.organization_id).delete(collection_id)


# Documents

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 500},
                    },
                }
            },
        },
    }
}


@router.get(
    "/{collection_id}/documents",
    response_model=Page[DocumentSummary],
    responses=merge_responses(CollectionNotFound, InvalidCursor),
)
async def list_knowledge_documents(
    collection_id: uuid.UUID,
    subject: Reader,
    session: ReadSession,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[DocumentSummary]:
    repo = CollectionRepository(session, subject.organization_id)
    if await repo.get(collection_id) is None:
        raise CollectionNotFound()
    rows, next_cursor = await repo.page_documents(collection_id, limit=limit, cursor=cursor)
    return Page.of([DocumentSummary.model_validate(row) for row in rows], limit, next_cursor)


@router.post(
    "/{collection_id}/documents",
    status_code=201,
    response_model=DocumentCreated,
    responses=merge_responses(
        CollectionNotFound, UnsupportedDocumentType, UnreadableDocument, UploadInvalid
    ),
    openapi_extra=_UPLOAD_BODY,
)
async def add_knowledge_document(
    collection_id: uuid.UUID,
    subject: Manager,
    request: Request,
    response: Response,
    reading: ReadSession,
    session: WriteSession,
) -> DocumentCreated:
    """Add a document: JSON `{"content", "content_type": text/plain|text/markdown|text/html,
    "title"?}`, or a multipart upload of one `file` (.txt, .md, .html, .pdf, .docx; at most the
    server's body limit, CALLPLANE_MAX_BODY_BYTES) with an optional `title`. Content the
    collection already holds is not stored again: 200 with that document and `duplicate: true`.
    Unsupported types are 415; empty, broken, encrypted or mislabelled files 422."""
    # The collection is checked (404) before the file is parsed, on a read session: the write
    # transaction starts only once the text is ready (SQLite's write lock is not held meanwhile).
    if await CollectionRepository(reading, subject.organization_id).get(collection_id) is None:
        raise CollectionNotFound()
    source, title, filename, extracted = await read_document(request)
    service = KnowledgeService(session, subject.organization_id)
    document, created = await service.add_document(
        collection_id, extracted, source=source, title=title, filename=filename
    )
    if not created:
        response.status_code = 200
    return DocumentCreated(
        **DocumentRead.model_validate(document).model_dump(), duplicate=not created
    )


@router.get(
    "/{collection_id}/documents/{document_id}",
    response_model=DocumentRead,
    responses=merge_responses(DocumentNotFound),
)
async def get_knowledge_document(
    collection_id: uuid.UUID, document_id: uuid.UUID, subject: Reader, session: ReadSession
) -> DocumentRead:
    document = await CollectionRepository(session, subject.organization_id).document(
        collection_id, document_id
    )
    if document is None:
        raise DocumentNotFound()
    return DocumentRead.model_validate(document)


@router.delete(
    "/{collection_id}/documents/{document_id}",
    status_code=204,
    response_class=Response,
    responses=merge_responses(DocumentNotFound),
)
async def delete_knowledge_document(
    collection_id: uuid.UUID, document_id: uuid.UUID, subject: Manager, session: WriteSession
) -> None:
    await KnowledgeService(session, subject.organization_id).delete_document(
        collection_id, document_id
    )


# Web pages


@router.post(
    "/{collection_id}/crawl",
    status_code=202,
    response_model=WorkflowAccepted,
    responses=merge_responses(CollectionNotFound, UrlRefused, WorkflowEngineUnavailable),
)
async def crawl_into_knowledge_collection(
    collection_id: uuid.UUID,
    body: CrawlRequest,
    subject: Manager,
    request: Request,
    session: WriteSession,
) -> WorkflowAccepted:
    """Fetch a web page (`max_pages: 1`) or crawl a site (same host, breadth-first, robots.txt
    obeyed) into the collection, in the background: poll `GET /core/workflows/{workflow_id}`
    for progress. A page already in the collection (same URL) is replaced; content already held
    under another URL is not stored twice. A URL the crawler would refuse is 422 at once."""
    await check_url(body.url, request)
    run = await KnowledgeService(session, subject.organization_id).start_crawl(
        collection_id, body, derive_workflow_id(request)
    )
    return WorkflowAccepted(workflow_id=run.id)


@router.post(
    "/{collection_id}/refresh",
    status_code=202,
    response_model=WorkflowAccepted,
    responses=merge_responses(CollectionNotFound, WorkflowEngineUnavailable),
)
async def refresh_knowledge_collection(
    collection_id: uuid.UUID, subject: Manager, request: Request, session: WriteSession
) -> WorkflowAccepted:
    """Fetch every URL document again and replace those whose text changed, in the background.
    While a refresh of the collection is unfinished, its workflow id is returned again."""
    run = await KnowledgeService(session, subject.organization_id).start_refresh(
        collection_id, derive_workflow_id(request)
    )
    return WorkflowAccepted(workflow_id=run.id)


async def check_url(url: str, request: Request) -> None:
    """What the crawl would refuse at its first connection is a 422 now (before the request
    touches the database)."""
    allow_private = bool(request.app.state.settings.crawler_allow_private_networks)
    try:
        await check_start(url, allow_private_networks=allow_private)
    except PrivateAddress as error:
        raise UrlRefused(
            f"url: {error.message} Set CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS=true on the "
            "server to allow private networks (never in production)."
        ) from None
    except CrawlError as error:
        raise UrlRefused(f"url: {error.message}") from None
