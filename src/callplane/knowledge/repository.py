from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.db.types import new_id, utcnow
from callplane.kit.pagination import paginate
from callplane.knowledge.chunking import chunk_text
from callplane.models import KnowledgeChunk, KnowledgeCollection, KnowledgeDocument


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
        """Add a document, or replace the one with the same URL (so re-adding is idempotent).
        Its search passages are cut here, in the same transaction, whenever its text changes."""
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
            if existing.title != title or existing.content != content:
                existing.title = title
                existing.content = content
                await self.write_chunks(existing)
            return existing
        document = KnowledgeDocument(
            id=new_id(),
            organization_id=self.organization_id,
            collection_id=collection_id,
            url=url,
            title=title,
            content=content,
        )
        self.session.add(document)
        await self.session.flush()
        await self.write_chunks(document)
        return document

    async def write_chunks(self, document: KnowledgeDocument) -> int:
        """Replace the document's passages with those of its current text; returns how many.
        The full-text index follows by itself (a generated column on PostgreSQL, triggers on
        SQLite's FTS5 table)."""
        await self.session.execute(
            delete(KnowledgeChunk).where(KnowledgeChunk.document_id == document.id)
        )
        return await insert_chunks(
            self.session,
            organization_id=self.organization_id,
            collection_id=document.collection_id,
            document_id=document.id,
            title=document.title,
            content=document.content,
        )


async def insert_chunks(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    collection_id: uuid.UUID,
    document_id: uuid.UUID,
    title: str | None,
    content: str,
) -> int:
    """Insert the passages of `content` for a document that has none; returns how many."""
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "organization_id": organization_id,
            "collection_id": collection_id,
            "document_id": document_id,
            "position": position,
            "title": title,
            "content": text,
            "created_at": now,
        }
        for position, text in enumerate(chunk_text(content))
    ]
    if rows:
        await session.execute(insert(KnowledgeChunk), rows)
    return len(rows)
