from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime

DocumentSource = Literal["url", "upload", "text"]
TextType = Literal["text/plain", "text/markdown", "text/html"]


class DocumentSummary(ResponseModel):
    id: uuid.UUID
    collection_id: uuid.UUID
    source: DocumentSource
    url: str | None
    title: str | None
    filename: str | None
    content_type: str
    content_hash: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class DocumentRead(DocumentSummary):
    content: str


class CollectionRead(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None = None
    source_url: str | None
    refresh_interval_hours: int | None = None
    last_refreshed_at: UTCDateTime | None = None
    created_at: UTCDateTime
    updated_at: UTCDateTime


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
RefreshHours = Annotated[int, Field(ge=1, le=24 * 365)]


class CollectionCreate(RequestModel):
    name: Name
    description: Description | None = None
    refresh_interval_hours: RefreshHours | None = Field(
        default=None,
        description="Re-fetch the collection's URL documents every this many hours (1..8760).",
    )


class CollectionUpdate(RequestModel):
    """Fields left out are unchanged; `description` and `refresh_interval_hours` may be null."""

    name: Name | None = None
    description: Description | None = None
    refresh_interval_hours: RefreshHours | None = None


class DocumentCreate(RequestModel):
    """A text document (`content` with its `content_type`), or a web page to fetch (`url`)."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    content: Annotated[str, StringConstraints(max_length=1_000_000)] | None = None
    content_type: TextType = "text/plain"
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class CrawlRequest(RequestModel):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    max_pages: int = Field(default=20, ge=1, le=200)
    max_depth: int = Field(default=2, ge=0, le=5)


class CollectionDetail(CollectionRead):
    documents: list[DocumentRead]


class DocumentCreated(DocumentRead):
    duplicate: bool = Field(
        default=False, description="The collection already held this content: nothing was added."
    )


SearchMode = Literal["keyword", "semantic", "hybrid"]


class SearchRequest(RequestModel):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    limit: int = Field(default=5, ge=1, le=50)
    mode: SearchMode | None = Field(
        default=None,
        description=(
            "`keyword` (the database's full-text search), `semantic` (embeddings), or `hybrid` "
            "(both, fused). Default: `hybrid` when embeddings are configured, else `keyword`."
        ),
    )


class SearchResult(ResponseModel):
    """One passage of a document, with the score it ranked by (higher is better)."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    collection_id: uuid.UUID
    title: str | None
    url: str | None
    text: str
    score: float


class SearchResults(ResponseModel):
    results: list[SearchResult]
