from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime


class DocumentRead(ResponseModel):
    id: uuid.UUID
    url: str
    title: str | None
    content: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class CollectionRead(ResponseModel):
    id: uuid.UUID
    name: str
    source_url: str | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class CollectionDetail(CollectionRead):
    documents: list[DocumentRead]


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
