"""Migration 0011: the documents that existed before passages are cut and indexed."""

from __future__ import annotations

import uuid

from alembic import command

from callplane.db import migrate
from tests.db.test_migrations import execute, scratch_url

__all__ = ["scratch_url"]  # the fixture, used by name below


def test_existing_documents_are_cut_and_indexed(scratch_url: str) -> None:
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0010")
    sqlite = scratch_url.startswith("sqlite")
    hex_or_uuid = (lambda u: u.hex) if sqlite else str
    org, collection = hex_or_uuid(uuid.uuid4()), hex_or_uuid(uuid.uuid4())
    now = "'2026-01-01 00:00:00'"
    long_page = "\n".join(f"Line {i} about root canal treatment." for i in range(100))
    execute(
        scratch_url,
        f"INSERT INTO organizations (id, name, created_at, updated_at) "
        f"VALUES ('{org}', 'o', {now}, {now})",
        "INSERT INTO knowledge_collections (id, organization_id, name, created_at, updated_at) "
        f"VALUES ('{collection}', '{org}', 'c', {now}, {now})",
        *(
            "INSERT INTO knowledge_documents (id, organization_id, collection_id, url, title, "
            f"content, created_at, updated_at) VALUES ('{hex_or_uuid(uuid.uuid4())}', '{org}', "
            f"'{collection}', 'https://a.test/{i}', 'Page {i}', '{content}', {now}, {now})"
            for i, content in enumerate(["Opening hours: 9 to 5.", long_page, "   "])
        ),
    )
    command.upgrade(config, "head")
    counts = execute(
        scratch_url,
        "SELECT d.url, count(c.seq) FROM knowledge_documents d "
        "LEFT JOIN knowledge_chunks c ON c.document_id = d.id GROUP BY d.url ORDER BY d.url",
    )
    assert counts[0] == ("https://a.test/0", 1)
    assert counts[1][0] == "https://a.test/1" and counts[1][1] > 2  # 3.8 KB in 1 KB passages
    assert counts[2] == ("https://a.test/2", 0)  # whitespace only: nothing to search
    if sqlite:
        found = "SELECT c.title FROM knowledge_chunks_fts f JOIN knowledge_chunks c ON c.seq = f.rowid WHERE knowledge_chunks_fts MATCH 'hour'"  # noqa: E501
    else:
        found = "SELECT title FROM knowledge_chunks WHERE search_vector @@ to_tsquery('english', 'hours')"  # noqa: E501
    assert execute(scratch_url, found) == [("Page 0",)]
    command.downgrade(config, "0010")
    command.upgrade(config, "head")
