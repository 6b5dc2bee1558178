"""The engine's knowledge retriever: the knowledge domain's full-text search, each search in a
short read transaction of its own (the engine holds no session)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from callplane.db.engine import Database
from callplane.knowledge.search import KnowledgeSearch
from callplane.runtime.events import Passage


class SearchRetriever:
    def __init__(self, database: Database, organization_id: uuid.UUID) -> None:
        self.database = database
        self.organization_id = organization_id

    async def search(
        self, collection_ids: Sequence[uuid.UUID], query: str, *, limit: int
    ) -> list[Passage]:
        async with self.database.session(write=False) as session, session.begin():
            hits = await KnowledgeSearch(session, self.organization_id).search(
                collection_ids, query, limit=limit
            )
        return [
            Passage(
                chunk_id=str(hit.chunk_id),
                document_id=str(hit.document_id),
                collection_id=str(hit.collection_id),
                title=hit.title,
                url=hit.url,
                text=hit.text,
                score=hit.score,
            )
            for hit in hits
        ]
