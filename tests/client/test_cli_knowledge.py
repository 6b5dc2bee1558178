"""`callplane knowledge …` (in-process) and the SDK's knowledge resources (async here; the sync
client is the one the CLI uses)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from callplane.client import AsyncClient, NotFound
from callplane.knowledge.schemas import CollectionRead, DocumentSummary
from tests.factories import Tenant
from tests.knowledge.test_pages import Serve, site_pages
from tests.support.cli import Cli

PROGRESS_DONE = "succeeded: Done"


async def test_collections_create_list_show_update_delete(cli: Cli) -> None:
    created = await cli.json(
        "knowledge", "create", "Help center", "--description", "FAQ", "--refresh-hours", "12"
    )
    collection_id = created["id"]
    assert (created["name"], created["description"], created["refresh_interval_hours"]) == (
        "Help center",
        "FAQ",
        12,
    )
    listed = await cli.json("knowledge", "list", "--name", "help")
    assert [c["id"] for c in listed] == [collection_id]
    assert await cli.json("knowledge", "list", "--name", "nothing-like-it") == []
    table = (await cli("knowledge", "list")).stdout.splitlines()
    assert table[0].split() == [
        "id",
        "name",
        "refresh_interval_hours",
        "last_refreshed_at",
        "created_at",
    ]

    updated = await cli.json(
        "knowledge", "update", collection_id, "--refresh-hours", "0", "--description", ""
    )
    assert (updated["refresh_interval_hours"], updated["description"]) == (None, None)
    renamed = await cli.json("knowledge", "update", collection_id, "--name", "Help")
    assert (renamed["name"], renamed["refresh_interval_hours"]) == ("Help", None)
    nothing = await cli("knowledge", "update", collection_id, expect=2)
    assert "nothing to update" in nothing.stderr

    shown = await cli("knowledge", "show", collection_id)
    assert "name:" in shown.stdout and "documents: 0" in shown.stdout

    deleted = await cli.json("knowledge", "delete", collection_id)
    assert deleted == {"deleted": collection_id}
    missing = await cli("knowledge", "show", collection_id, expect=3)
    assert missing.stderr.startswith("knowledge_collection_not_found")
    await cli("knowledge", "create", "", expect=1)  # the API's 422: an empty name


async def test_documents_text_stdin_file_duplicates_and_delete(cli: Cli, tmp_path: Path) -> None:
    collection_id = (await cli.json("knowledge", "create", "Docs"))["id"]
    text = await cli.json(
        "knowledge", "documents", "add", collection_id, "Parking is free behind the shop.",
        "--title", "Parking",
    )  # fmt: skip
    assert (text["source"], text["title"], text["duplicate"]) == ("text", "Parking", False)
    again = await cli.json(
        "knowledge", "documents", "add", collection_id, "Parking is free behind the shop."
    )
    assert (again["id"], again["duplicate"]) == (text["id"], True)
    piped = await cli.json(
        "knowledge", "documents", "add", collection_id, "-", "--type", "text/markdown",
        input="# Returns\n\nReturns are accepted within 30 days.",
    )  # fmt: skip
    assert piped["content_type"] == "text/markdown"
    notes = tmp_path / "opening-hours.md"
    notes.write_text("# Opening hours\n\nWe open at nine on weekdays and at ten on Saturdays.\n")
    uploaded = await cli.json("knowledge", "documents", "add", collection_id, "--file", str(notes))
    assert (uploaded["source"], uploaded["filename"]) == ("upload", "opening-hours.md")

    listed = await cli.json("knowledge", "documents", "list", collection_id)
    assert {d["id"] for d in listed} == {text["id"], piped["id"], uploaded["id"]}
    assert all("content" not in d for d in listed)
    shown = await cli.json("knowledge", "documents", "show", collection_id, uploaded["id"])
    assert "Saturdays" in shown["content"]
    hits = await cli.json("knowledge", "search", collection_id, "saturday", "--mode", "keyword")
    assert hits[0]["document_id"] == uploaded["id"]
    human = (await cli("knowledge", "search", collection_id, "parking")).stdout
    assert human.splitlines()[0].split() == ["score", "title", "url", "text"]
    assert "Parking is free" in human

    await cli.json("knowledge", "documents", "delete", collection_id, text["id"])
    assert await cli.json("knowledge", "search", collection_id, "parking") == []
    await cli("knowledge", "documents", "delete", collection_id, text["id"], expect=3)

    # Usage errors: no source, two sources, an unreadable file; the API's 415 for a wrong type.
    for args in ([], ["words", "--file", str(notes)], ["--file", str(tmp_path / "missing.txt")]):
        failed = await cli("knowledge", "documents", "add", collection_id, *args, expect=2)
        assert failed.stderr
    program = tmp_path / "tool.exe"
    program.write_bytes(b"MZ\x90\x00" * 64)
    refused = await cli(
        "knowledge", "documents", "add", collection_id, "--file", str(program), expect=1
    )
    assert "unsupported" in refused.stderr.lower()
    await cli("knowledge", "search", collection_id, "x", "--mode", "fuzzy", expect=2)
    await cli("knowledge", "search", collection_id, "x", "--mode", "semantic", expect=1)


async def test_pages_crawl_and_refresh_with_progress(cli: Cli, serve: Serve) -> None:
    site = serve(site_pages())
    collection_id = (await cli.json("knowledge", "create", "Site"))["id"]
    one = await cli("knowledge", "documents", "add", collection_id, "--page", site.url, "--wait")
    assert one.stderr.splitlines()[-1].endswith(PROGRESS_DONE)
    assert [d["url"] for d in await cli.json("knowledge", "documents", "list", collection_id)] == [
        f"{site.url}/"
    ]
    crawled = await cli(
        "knowledge", "crawl", collection_id, site.url, "--max-pages", "5", "--wait", "--json"
    )
    run = json.loads(crawled.stdout)
    assert (run["type"], run["status"]) == ("knowledge_crawl", "succeeded")
    assert len(await cli.json("knowledge", "documents", "list", collection_id)) == 3

    started = await cli.json("knowledge", "refresh", collection_id)
    waited = await cli("workflows", "wait", started["workflow_id"], "--json")
    refreshed = json.loads(waited.stdout)
    assert (refreshed["type"], refreshed["status"]) == ("knowledge_refresh", "succeeded")
    assert len(refreshed["result"]["unchanged"]) == 3
    listed = await cli.json("workflows", "list", "--type", "knowledge_refresh")
    assert started["workflow_id"] in [r["workflow_id"] for r in listed]
    again = await cli("knowledge", "refresh", collection_id, "--wait")
    assert again.stderr.splitlines()[-1].endswith(PROGRESS_DONE)
    assert "knowledge_refresh" in again.stdout
    shown = await cli.json("knowledge", "show", collection_id)
    assert shown["last_refreshed_at"] is not None and len(shown["documents"]) == 3
    await cli("knowledge", "refresh", str(uuid.uuid4()), expect=3)
    refused = await cli("knowledge", "crawl", collection_id, "ftp://example.com/", expect=1)
    assert refused.stderr.startswith("url_refused") or "url" in refused.stderr


async def test_async_sdk_collections_and_documents(
    app_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with AsyncClient("http://testserver", tenant.api_key, transport=transport) as sdk:
        created = await sdk.knowledge.create(name="Async", refresh_interval_hours=6)
        assert isinstance(created, CollectionRead) and created.refresh_interval_hours == 6
        assert created.id in [c.id async for c in sdk.knowledge.list(name="async")]
        added = await sdk.knowledge.documents.add(created.id, "Gift cards never expire.")
        uploaded = await sdk.knowledge.documents.upload(
            created.id, "cards.txt", b"Lost gift cards can be replaced at the counter."
        )
        listed = [d async for d in sdk.knowledge.documents.list(created.id)]
        assert all(isinstance(d, DocumentSummary) for d in listed)
        assert {d.id for d in listed} == {added.id, uploaded.id}
        assert (await sdk.knowledge.documents.get(created.id, uploaded.id)).filename == "cards.txt"
        found = await sdk.knowledge.search(created.id, "replaced", mode="keyword")
        assert found[0].document_id == uploaded.id
        await sdk.knowledge.documents.delete(created.id, added.id)
        updated = await sdk.knowledge.update(created.id, refresh_interval_hours=None)
        assert updated.refresh_interval_hours is None
        detail = await sdk.knowledge.get(created.id)
        assert [d.id for d in detail.documents] == [uploaded.id]
        await sdk.knowledge.delete(created.id)
        with pytest.raises(NotFound):
            await sdk.knowledge.get(created.id)
        with pytest.raises(NotFound):
            await sdk.knowledge.refresh(created.id)
