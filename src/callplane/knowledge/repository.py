from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from callplane.db.repository import OrgRepository
from callplane.kit.pagination import paginate
from callplane.models import KnowledgeCollection, KnowledgeDocument


class CollectionRepository(OrgRepository[KnowledgeCollection]):
    model = KnowledgeCollection

    async def list(
        self, *, limit: int, cursor: str | None
    ) -> tuple[list[KnowledgeCollection], str | None]:
        return await paginate(
            self.session,
            self.scoped(),
            (KnowledgeCollection.created_at, KnowledgeCollection.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def documents(self, collection_id: uuid.UUID) -> Sequence[KnowledgeDocument]:
        statement = (
            select(KnowledgeDocument)
            .where(
                KnowledgeDocument.organization_id == self.organization_id,
                KnowledgeDocument.collection_id == collection_id,
            )
            .order_by(KnowledgeDocument.url)
        )
        return (await self.session.scalars(statement)).all()

    async def put_document(
        self, collection_id: uuid.UUID, url: str, title: str | None, content: str
    ) -> KnowledgeDocument:
        """Add a document, or replace the one with the same URL (so re-adding is idempotent)."""
        existing = (
            await self.session.scalars(
                select(KnowledgeDocument).where(
                    KnowledgeDocument.organization_id == self.organization_id,
                    KnowledgeDocument.collection_id == collection_id,
                    KnowledgeDocument.url == url,
                )
            )
        ).one_or_none()
        if existing is not None:
            existing.title = title
            existing.content = content
            return existing
        document = KnowledgeDocument(
            organization_id=self.organization_id,
            collection_id=collection_id,
            url=url,
            title=title,
            content=content,
        )
        self.session.add(document)
        return document
