from __future__ import annotations

import uuid

from callplane.kit.schemas import ResponseModel, UTCDateTime


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
