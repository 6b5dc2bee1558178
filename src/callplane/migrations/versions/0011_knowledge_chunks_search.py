"""knowledge chunks with the database's own full-text search

Documents are cut into passages (`knowledge_chunks`) when they are written; each database indexes
them with its own full-text search:
- PostgreSQL: a generated `search_vector` tsvector column (title weighted A, text B, the
  `english` configuration) with a GIN index, ranked with `ts_rank_cd`;
- SQLite: an external-content FTS5 table `knowledge_chunks_fts` (porter stemming over unicode61)
  on `knowledge_chunks`, kept in sync by triggers, ranked with `bm25`.
Neither index is in the ORM models (migrations/env.py leaves them out of the comparison).

Existing documents (the pages of website builds) are cut here with the same chunker.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import UTCDateTime, new_id, utcnow
from callplane.knowledge.chunking import chunk_text

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_BATCH = 200

POSTGRES_UP = [
    "ALTER TABLE knowledge_chunks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, content), 'B')) STORED",
    "CREATE INDEX ix_knowledge_chunks_search ON knowledge_chunks USING gin (search_vector)",
]

SQLITE_UP = [
    "CREATE VIRTUAL TABLE knowledge_chunks_fts USING fts5(title, content, "
    "content='knowledge_chunks', content_rowid='seq', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_chunks_fts_insert AFTER INSERT ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_chunks_fts(rowid, title, content) "
    "VALUES (new.seq, new.title, new.content); END",
    "CREATE TRIGGER knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts, rowid, title, content) "
    "VALUES ('delete', old.seq, old.title, old.content); END",
    "CREATE TRIGGER knowledge_chunks_fts_update AFTER UPDATE ON knowledge_chunks BEGIN "
    "INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts, rowid, title, content) "
    "VALUES ('delete', old.seq, old.title, old.content); "
    "INSERT INTO knowledge_chunks_fts(rowid, title, content) "
    "VALUES (new.seq, new.title, new.content); END",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS knowledge_chunks_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_chunks_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunks_fts_insert",
    "DROP TABLE IF EXISTS knowledge_chunks_fts",
]


def upgrade() -> None:
    op.create_table(
        "knowledge_chunks",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["knowledge_collections.id"],
            name=op.f("fk_knowledge_chunks_collection_id_knowledge_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name=op.f("fk_knowledge_chunks_document_id_knowledge_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_knowledge_chunks_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_knowledge_chunks")),
        sa.UniqueConstraint("id", name=op.f("uq_knowledge_chunks_id")),
    )
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_chunks_collection_id"), ["collection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_knowledge_chunks_document_id"), ["document_id"], unique=False
        )

    bind = op.get_bind()
    for statement in POSTGRES_UP if bind.dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)
    _backfill(bind)


def _backfill(bind: sa.Connection) -> None:
    """Cut every existing document into passages (the index fills itself as they are inserted)."""
    documents = sa.table(
        "knowledge_documents",
        sa.column("id", sa.Uuid()),
        sa.column("organization_id", sa.Uuid()),
        sa.column("collection_id", sa.Uuid()),
        sa.column("title", sa.String()),
        sa.column("content", sa.Text()),
    )
    chunks = sa.table(
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
    last = None
    while True:
        query = sa.select(documents).order_by(documents.c.id).limit(BACKFILL_BATCH)
        if last is not None:
            query = query.where(documents.c.id > last)
        batch = bind.execute(query).all()
        if not batch:
            return
        now = utcnow()
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
            for document in batch
            for position, text in enumerate(chunk_text(document.content))
        ]
        if rows:
            bind.execute(chunks.insert(), rows)
        last = batch[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_chunks_document_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_chunks_collection_id"))
    op.drop_table("knowledge_chunks")
