from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.repository import OrgRepository
from callplane.db.types import new_id, utcnow
from callplane.kit.filters import like_pattern
from callplane.kit.pagination import paginate
from callplane.knowledge.chunking import chunk_text
from callplane.models import KnowledgeChunk, KnowledgeCollection, KnowledgeDocument


class CollectionRepository(OrgRepository[KnowledgeCollection]):
    model = KnowledgeCollection

    async def list(
        self, *, limit: int, cursor: str | None, name: str | None = None
    ) -> tuple[list[KnowledgeCollection], str | None]:
        statement = self.scoped()
        if name:
            statement = statement.where(
                KnowledgeCollection.name.ilike(like_pattern(name), escape="\\")
            )
        return await paginate(
            self.session,
            statement,
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

    async def page_documents(
        self, collection_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[builtins.list[KnowledgeDocument], str | None]:
        statement = select(KnowledgeDocument).where(
            KnowledgeDocument.organization_id == self.organization_id,
            KnowledgeDocument.collection_id == collection_id,
        )
        return await paginate(
            self.session,
            statement,
            (KnowledgeDocument.created_at, KnowledgeDocument.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
        )

    async def document(
        self, collection_id: uuid.UUID, document_id: uuid.UUID
    ) -> KnowledgeDocument | None:
        statement = select(KnowledgeDocument).where(
            KnowledgeDocument.organization_id == self.organization_id,
            KnowledgeDocument.collection_id == collection_id,
            KnowledgeDocument.id == document_id,
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def by_hash(self, collection_id: uuid.UUID, digest: str) -> KnowledgeDocument | None:
        statement = select(KnowledgeDocument).where(
            KnowledgeDocument.organization_id == self.organization_id,
            KnowledgeDocument.collection_id == collection_id,
            KnowledgeDocument.content_hash == digest,
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def by_url(self, collection_id: uuid.UUID, url: str) -> KnowledgeDocument | None:
        statement = select(KnowledgeDocument).where(
            KnowledgeDocument.organization_id == self.organization_id,
            KnowledgeDocument.collection_id == collection_id,
            KnowledgeDocument.url == url,
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def url_documents(self, collection_id: uuid.UUID) -> Sequence[KnowledgeDocument]:
        statement = select(KnowledgeDocument).where(
            KnowledgeDocument.organization_id == self.organization_id,
            KnowledgeDocument.collection_id == collection_id,
            KnowledgeDocument.url.is_not(None),
        )
        return (await self.session.scalars(statement)).all()

    async def put_document(
        self, collection_id: uuid.UUID, url: str, title: str | None, content: str
    ) -> KnowledgeDocument | None:
        """Add a page, or replace the one with the same URL (so re-adding is idempotent).
        Its search passages are cut here, in the same transaction, whenever its text changes.

        A page whose text another document of the collection already holds is not stored twice:
        None (and a page that now duplicates another is removed)."""
        digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
        twin = await self.by_hash(collection_id, digest)
        existing = (
            await self.session.scalars(
                select(KnowledgeDocument).where(
                    KnowledgeDocument.organization_id == self.organization_id,
                    KnowledgeDocument.collection_id == collection_id,
                    KnowledgeDocument.url == url,
                )
            )
        ).one_or_none()
        if twin is not None and (existing is None or twin.id != existing.id):
            if existing is not None:
                await self.session.delete(existing)
                await self.session.flush()
            return None
        if existing is not None:
            if existing.title != title or existing.content != content:
                existing.title = title
                existing.content = content
                existing.content_hash = digest
                await self.write_chunks(existing)
            return existing
        document = KnowledgeDocument(
            id=new_id(),
            organization_id=self.organization_id,
            collection_id=collection_id,
            url=url,
            title=title,
            content=content,
            source="url",
            content_type="text/html",
            content_hash=digest,
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
