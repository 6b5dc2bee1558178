from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from callplane.db.types import UTCDateTime, new_id, utcnow
from callplane.models.base import Base, IdMixin, TimestampsMixin


class KnowledgeCollection(IdMixin, TimestampsMixin, Base):
    """A set of documents an agent can search (referenced from `AgentConfig.knowledge_bases`)."""

    __tablename__ = "knowledge_collections"
    __table_args__ = (
        Index("ix_knowledge_collections_org_created", "organization_id", "created_at", "id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    source_url: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # Re-fetch the URL documents every this many hours (None: only on request).
    refresh_interval_hours: Mapped[int | None] = mapped_column(Integer)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KnowledgeDocument(IdMixin, TimestampsMixin, Base):
    """One document: a page (by URL: unique per collection, so re-adding replaces), an uploaded
    file or a text. Its content is stored once per collection (`content_hash`, unique)."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (
        UniqueConstraint("collection_id", "url"),
        Index(
            "ix_knowledge_documents_collection_hash", "collection_id", "content_hash", unique=True
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(
        String(20), nullable=False, default="url"
    )  # url|upload|text
    content_type: Mapped[str] = mapped_column(String(100), nullable=False, default="text/plain")
    filename: Mapped[str | None] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class KnowledgeChunk(Base):
    """A searchable passage of a document, cut when the document is written.

    `seq` is an integer key because SQLite's FTS5 index addresses rows by integer rowid (it is
    the rowid itself there); `id` is the chunk's public id. The full-text index itself is not in
    the model: PostgreSQL has a generated `search_vector` column with a GIN index, SQLite an
    external-content FTS5 table kept in sync by triggers (migration 0011). `title`
    repeats the document's title so that both indexes can weigh it without a join.
    """

    __tablename__ = "knowledge_chunks"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, nullable=False, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_collections.id", ondelete="CASCADE"), nullable=False, index=True
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("knowledge_documents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    # The passage's embedding (little-endian float32, unit length) once computed; None until
    # then, and while no embeddings endpoint is configured (keyword search still finds it).
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
