"""knowledge collections users manage: documents of any source, refresh, embeddings

- collections: `description`, `refresh_interval_hours`, `last_refreshed_at`;
- documents: `url` becomes optional (uploads and texts have none), `source`, `content_type`,
  `filename`, and `content_hash` (sha256 of the text, unique per collection: the same content is
  not stored twice), backfilled;
- chunks: `embedding` (float32 vector, filled by the embedding workflow).

On SQLite, making `url` optional rebuilds `knowledge_documents`; dropping the old table deletes
its passages (ON DELETE CASCADE), so they are cut again afterwards (they are derived data).
Documents of one collection holding the same text are reduced to the oldest before the unique
index is made.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:55:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import UTCDateTime, new_id, utcnow
from callplane.knowledge.chunking import chunk_text

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_documents = sa.table(
    "knowledge_documents",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("collection_id", sa.Uuid()),
    sa.column("title", sa.String()),
    sa.column("content", sa.Text()),
    sa.column("content_hash", sa.String()),
    sa.column("created_at", UTCDateTime()),
)
_chunks = sa.table(
    "knowledge_chunks",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("collection_id", sa.Uuid()),
    sa.column("document_id", sa.Uuid()),
    sa.column("position", sa.Integer()),
    sa.column("title", sa.String()),
    sa.column("content", sa.Text()),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.add_column("knowledge_collections", sa.Column("description", sa.Text(), nullable=True))
    op.add_column(
        "knowledge_collections", sa.Column("refresh_interval_hours", sa.Integer(), nullable=True)
    )
    op.add_column(
        "knowledge_collections", sa.Column("last_refreshed_at", UTCDateTime(), nullable=True)
    )
    op.add_column("knowledge_chunks", sa.Column("embedding", sa.LargeBinary(), nullable=True))
    for name, type_, default in (
        ("source", sa.String(length=20), "url"),
        ("content_type", sa.String(length=100), "text/plain"),
    ):
        op.add_column(
            "knowledge_documents",
            sa.Column(name, type_, nullable=False, server_default=default),
        )
    op.add_column(
        "knowledge_documents", sa.Column("filename", sa.String(length=255), nullable=True)
    )
    op.add_column(
        "knowledge_documents", sa.Column("content_hash", sa.String(length=64), nullable=True)
    )
    _hash_and_deduplicate(bind)
    if sqlite:
        op.execute("DELETE FROM knowledge_chunks")  # the rebuild below would cascade anyway
    with op.batch_alter_table("knowledge_documents", schema=None) as batch_op:
        batch_op.alter_column("url", existing_type=sa.String(length=2000), nullable=True)
        batch_op.alter_column("content_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("source", server_default=None, existing_type=sa.String(length=20))
        batch_op.alter_column(
            "content_type", server_default=None, existing_type=sa.String(length=100)
        )
    op.create_index(
        "ix_knowledge_documents_collection_hash",
        "knowledge_documents",
        ["collection_id", "content_hash"],
        unique=True,
    )
    if sqlite:
        _cut_again(bind)


def _hash_and_deduplicate(bind: sa.Connection) -> None:
    seen: set[tuple[object, str]] = set()
    duplicates: list[object] = []
    rows = bind.execute(
        sa.select(_documents.c.id, _documents.c.collection_id, _documents.c.content).order_by(
            _documents.c.created_at, _documents.c.id
        )
    )
    for row in rows.all():
        digest = content_hash(row.content)
        if (row.collection_id, digest) in seen:
            duplicates.append(row.id)
            continue
        seen.add((row.collection_id, digest))
        bind.execute(
            _documents.update().where(_documents.c.id == row.id).values(content_hash=digest)
        )
    if duplicates:
        bind.execute(_documents.delete().where(_documents.c.id.in_(duplicates)))


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def _cut_again(bind: sa.Connection) -> None:
    now = utcnow()
    d = _documents.c
    columns = (d.id, d.organization_id, d.collection_id, d.title, d.content)
    for document in bind.execute(sa.select(*columns)).all():
        rows = [
            {
                "id": new_id(),
                "organization_id": document.organization_id,
                "collection_id": document.collection_id,
                "document_id": document.id,
                "position": position,
                "title": document.title,
                "content": text,
                "created_at": now,
            }
            for position, text in enumerate(chunk_text(document.content))
        ]
        if rows:
            bind.execute(_chunks.insert(), rows)


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.drop_index("ix_knowledge_documents_collection_hash", table_name="knowledge_documents")
    op.execute("DELETE FROM knowledge_documents WHERE url IS NULL")
    if sqlite:
        op.execute("DELETE FROM knowledge_chunks")
    with op.batch_alter_table("knowledge_documents", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
        batch_op.drop_column("filename")
        batch_op.drop_column("content_type")
        batch_op.drop_column("source")
        batch_op.alter_column("url", existing_type=sa.String(length=2000), nullable=False)
    if sqlite:
        _cut_again(bind)
    # Native DROP COLUMN on both (SQLite >= 3.35): a rebuild of knowledge_chunks would lose
    # its FTS5 triggers.
    for table, column in (
        ("knowledge_chunks", "embedding"),
        ("knowledge_collections", "last_refreshed_at"),
        ("knowledge_collections", "refresh_interval_hours"),
        ("knowledge_collections", "description"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
