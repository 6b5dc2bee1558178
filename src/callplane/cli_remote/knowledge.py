"""`callplane knowledge …`: knowledge collections, their documents, web pages and search."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from callplane.cli_remote._common import (
    EXIT_USAGE,
    Limit,
    Output,
    fail,
    fields,
    given,
    group,
    present,
    read_text,
    remote,
    table,
    take,
)
from callplane.cli_remote._progress import Timeout, Wait, started
from callplane.client import Client
from callplane.knowledge.schemas import CollectionDetail

app = group("Knowledge collections: documents, files and web pages agents can search.")
documents = group("The documents of a collection: texts, uploaded files and web pages.")
app.add_typer(documents, name="documents")

COLLECTION_COLUMNS = ["id", "name", "refresh_interval_hours", "last_refreshed_at", "created_at"]
COLLECTION_FIELDS = [
    "id",
    "name",
    "description",
    "source_url",
    "refresh_interval_hours",
    "last_refreshed_at",
    "created_at",
    "updated_at",
]
DOCUMENT_COLUMNS = ["id", "source", "title", "url", "filename", "content_type", "created_at"]
DOCUMENT_FIELDS = [*DOCUMENT_COLUMNS, "content_hash", "updated_at"]
ADDED_FIELDS = [*DOCUMENT_COLUMNS, "duplicate"]
RESULT_COLUMNS = ["score", "title", "url", "text"]

CollectionId = Annotated[str, typer.Argument(help="Collection id.")]
DocumentId = Annotated[str, typer.Argument(help="Document id.")]
Description = Annotated[
    str | None, typer.Option("--description", help='What it holds ("" clears it).')
]
RefreshHours = Annotated[
    int | None,
    typer.Option(
        "--refresh-hours",
        min=0,
        max=24 * 365,
        help="Re-fetch its web pages every this many hours (0: only on request).",
    ),
]
MaxPages = Annotated[int | None, typer.Option("--max-pages", min=1, help="Pages at most.")]
MaxDepth = Annotated[int | None, typer.Option("--max-depth", min=0, help="Links deep at most.")]


class Mode(StrEnum):
    keyword = "keyword"
    semantic = "semantic"
    hybrid = "hybrid"


class TextType(StrEnum):
    plain = "text/plain"
    markdown = "text/markdown"
    html = "text/html"


@app.command("list")
@remote
def knowledge_list(
    client: Client,
    out: Output,
    name: Annotated[str | None, typer.Option("--name", help="Name contains (any case).")] = None,
    limit: Limit = 100,
) -> None:
    """The organization's collections."""
    out.table(take(client.knowledge.list(name=name, limit=limit), limit), COLLECTION_COLUMNS)


@app.command("create")
@remote
def knowledge_create(
    client: Client,
    out: Output,
    name: Annotated[str, typer.Argument(help="Its name.")],
    description: Description = None,
    refresh_hours: RefreshHours = None,
) -> None:
    """Create an empty collection; add documents, files and web pages to it."""
    collection = client.knowledge.create(
        name=name,
        **present(description=description or None, refresh_interval_hours=refresh_hours or None),
    )
    out.record(collection, COLLECTION_FIELDS)


def _detail(collection: CollectionDetail) -> Group:
    listed = table(collection.documents, DOCUMENT_COLUMNS)
    count = Text(f"documents: {len(collection.documents)}")
    return Group(fields(collection, COLLECTION_FIELDS), count, listed)


@app.command("show")
@remote
def knowledge_show(client: Client, out: Output, collection_id: CollectionId) -> None:
    """One collection and its documents (with their text in --json)."""
    collection = client.knowledge.get(collection_id)
    out.value(collection, lambda: _detail(collection))


@app.command("update")
@remote
def knowledge_update(
    client: Client,
    out: Output,
    collection_id: CollectionId,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Description = None,
    refresh_hours: RefreshHours = None,
) -> None:
    """Change a collection (the options given)."""
    changes = given(name=name, description=description, refresh_hours=refresh_hours)
    body: dict[str, Any] = {}
    if "name" in changes:
        body["name"] = name
    if "description" in changes:
        body["description"] = description or None
    if "refresh_hours" in changes:
        body["refresh_interval_hours"] = refresh_hours or None
    out.record(client.knowledge.update(collection_id, **body), COLLECTION_FIELDS)


@app.command("delete")
@remote
def knowledge_delete(client: Client, out: Output, collection_id: CollectionId) -> None:
    """Delete a collection and its documents (refused, exit 4, while a published agent version
    uses it)."""
    client.knowledge.delete(collection_id)
    out.done({"deleted": collection_id}, f"deleted collection {collection_id}")


@app.command("crawl")
@remote
def knowledge_crawl(
    client: Client,
    out: Output,
    collection_id: CollectionId,
    start: Annotated[
        str, typer.Argument(metavar="URL", help="Where to start, e.g. https://acme.example/faq")
    ],
    max_pages: MaxPages = None,
    max_depth: MaxDepth = None,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> None:
    """Crawl a site (same host, robots.txt obeyed) into the collection, in the background;
    --wait shows its progress."""
    workflow_id = client.knowledge.crawl(
        collection_id, start, max_pages=max_pages, max_depth=max_depth
    )
    started(client, out, workflow_id, wait=wait, timeout=timeout)


@app.command("refresh")
@remote
def knowledge_refresh(
    client: Client,
    out: Output,
    collection_id: CollectionId,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> None:
    """Fetch the collection's web pages again and replace those that changed, in the
    background (while a refresh of it is unfinished, that one is followed)."""
    workflow_id = client.knowledge.refresh(collection_id)
    started(client, out, workflow_id, wait=wait, timeout=timeout)


@app.command("search")
@remote
def knowledge_search(
    client: Client,
    out: Output,
    collection_id: CollectionId,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    mode: Annotated[
        Mode | None,
        typer.Option("--mode", help="Default: hybrid with embeddings configured, else keyword."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=50, help="Passages at most.")] = 5,
) -> None:
    """The passages of the collection that best match QUERY, best first."""
    results = client.knowledge.search(
        collection_id, query, limit=limit, mode=mode.value if mode else None
    )
    out.table(results, RESULT_COLUMNS)


@documents.command("list")
@remote
def documents_list(
    client: Client, out: Output, collection_id: CollectionId, limit: Limit = 100
) -> None:
    """The collection's documents (without their text)."""
    listed = take(client.knowledge.documents.list(collection_id, limit=limit), limit)
    out.table(listed, DOCUMENT_COLUMNS)


@documents.command("show")
@remote
def documents_show(
    client: Client, out: Output, collection_id: CollectionId, document_id: DocumentId
) -> None:
    """One document, with its text."""
    document = client.knowledge.documents.get(collection_id, document_id)
    out.record(document, [*DOCUMENT_FIELDS, "content"])


@documents.command("add")
@remote
def documents_add(
    client: Client,
    out: Output,
    collection_id: CollectionId,
    text: Annotated[
        str | None, typer.Argument(help="The document's text (`-`: read standard input).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Upload this file (.txt, .md, .html, .pdf, .docx)."),
    ] = None,
    page: Annotated[
        str | None,
        typer.Option(
            "--page", metavar="URL", help="Fetch the web page at URL (in the background)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Its title.")] = None,
    content_type: Annotated[
        TextType, typer.Option("--type", help="The text's format.")
    ] = TextType.plain,
    wait: Wait = False,
    timeout: Timeout = 300.0,
) -> None:
    """Add a document: TEXT, a --file upload, or the web page at --page URL (a workflow: its id
    is printed, --wait follows it). Content the collection already holds is not added again.
    (--url is every command's API address, hence --page.)"""
    chosen = [name for name, value in (("TEXT", text), ("--file", file), ("--page", page)) if value]
    if len(chosen) != 1:
        raise fail(EXIT_USAGE, "give exactly one of TEXT, --file or --page")
    if page is not None:
        if title is not None:
            raise fail(EXIT_USAGE, "--title is taken from the page itself with --page")
        workflow_id = client.knowledge.crawl(collection_id, page, max_pages=1, max_depth=0)
        started(client, out, workflow_id, wait=wait, timeout=timeout)
        return
    if file is not None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise fail(EXIT_USAGE, f"cannot read --file {file}: {exc.strerror}") from None
        added = client.knowledge.documents.upload(collection_id, file.name, data, title=title)
    else:
        content = read_text(Path("-"), "TEXT") if text == "-" else str(text)
        added = client.knowledge.documents.add(
            collection_id, content, content_type=content_type.value, title=title
        )
    out.record(added, ADDED_FIELDS)


@documents.command("delete")
@remote
def documents_delete(
    client: Client, out: Output, collection_id: CollectionId, document_id: DocumentId
) -> None:
    """Delete a document (its passages leave search at once)."""
    client.knowledge.documents.delete(collection_id, document_id)
    out.done({"deleted": document_id}, f"deleted document {document_id}")
