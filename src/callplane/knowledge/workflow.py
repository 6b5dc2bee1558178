"""Web pages into a collection, durably: crawling a site (or one page), and refreshing the
collection's pages. Both are DBOS workflows tracked as workflow runs (progress, cancel).

`knowledge_crawl` (input: collection, url, max_pages, max_depth): crawl → store. The crawler is
the website builder's (same SSRF guard, robots.txt, limits); one page is `max_pages: 1`.
`knowledge_refresh` (input: collection): every URL document is fetched again, alone (depth 0);
a page whose text changed is replaced (and its passages cut again), an unchanged one is left
alone, a page that cannot be fetched now is kept as it was and counted as failed.

Steps store by URL (`put_document`), so a step run again after a crash rewrites the same rows.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from callplane.db.types import utcnow
from callplane.knowledge import embedding
from callplane.knowledge.repository import CollectionRepository
from callplane.knowledge.service import CRAWL, REFRESH, KnowledgeService
from callplane.models import WorkflowRun
from callplane.workflows import engine, steps, tracking
from callplane.workflows.runtime import runtime

__all__ = ["CRAWL", "REFRESH", "crawl_into_collection", "refresh_collection"]


async def _crawl(arguments: dict[str, Any]) -> dict[str, Any]:
    from callplane.crawler.site_crawl import CrawlLimits, crawl  # heavy: loaded on first crawl

    profile = await crawl(
        arguments["url"],
        limits=CrawlLimits(max_pages=arguments["max_pages"], max_depth=arguments["max_depth"]),
        allow_private_networks=runtime().settings.crawler_allow_private_networks,
    )
    return dataclasses.asdict(profile)


async def _store(arguments: dict[str, Any]) -> dict[str, int]:
    """Put the crawled pages into the collection; counts of stored and duplicate pages."""
    organization_id = uuid.UUID(arguments["organization_id"])
    collection_id = uuid.UUID(arguments["collection_id"])
    stored = duplicates = 0
    async with steps.transaction("knowledge_store") as session:
        repo = CollectionRepository(session, organization_id)
        if await repo.get(collection_id) is None:
            raise tracking.StepFailed("knowledge_collection_not_found", "The collection is gone.")
        for page in arguments["pages"]:
            if not page["text"].strip():
                continue
            document = await repo.put_document(
                collection_id, page["url"], page["title"], page["text"]
            )
            if document is None:
                duplicates += 1
            else:
                stored += 1
        KnowledgeService(session, organization_id).passages_changed(collection_id)
    return {"stored": stored, "duplicates": duplicates}


async def _crawl_body(run: WorkflowRun) -> dict[str, Any]:
    arguments = dict(run.input)
    await tracking.progress(run.id, "crawl", f"Crawling {arguments['url']}", 0, 2)
    profile = await engine.run_step(
        _crawl, arguments, max_attempts=3, retry_if=tracking.is_transient
    )
    await tracking.progress(run.id, "store", "Storing the pages", 1, 2)
    counts = await engine.run_step(
        _store,
        {
            "organization_id": str(run.organization_id),
            "collection_id": arguments["collection_id"],
            "pages": profile["pages"],
        },
    )
    await embedding.start_in_workflow(run.id, run.organization_id, arguments["collection_id"])
    await tracking.progress(run.id, "done", "Done", 2, 2)
    return {
        "collection_id": arguments["collection_id"],
        "pages": len(profile["pages"]),
        **counts,
        "warnings": profile.get("warnings", [])[:20],
    }


async def crawl_into_collection(run_id: str) -> None:
    """The workflow `knowledge_crawl` (registered by callplane.wiring)."""
    await tracking.execute(run_id, _crawl_body)


async def _urls(arguments: dict[str, Any]) -> list[str]:
    async with runtime().database.session(write=False) as session:
        repo = CollectionRepository(session, uuid.UUID(arguments["organization_id"]))
        documents = await repo.url_documents(uuid.UUID(arguments["collection_id"]))
        return sorted(document.url for document in documents if document.url)


async def _refresh_page(arguments: dict[str, Any]) -> dict[str, Any]:
    """Fetch one page again and store it if it changed: `changed`, `unchanged` or `failed`."""
    from callplane.crawler.errors import CrawlError

    try:
        profile = await _crawl({"url": arguments["url"], "max_pages": 1, "max_depth": 0})
    except CrawlError as error:
        return {"outcome": "failed", "error": error.message}
    pages = [page for page in profile["pages"] if page["url"] == arguments["url"]]
    if not pages:
        return {"outcome": "failed", "error": "the page moved or yielded no text"}
    page = pages[0]
    organization_id = uuid.UUID(arguments["organization_id"])
    collection_id = uuid.UUID(arguments["collection_id"])
    async with steps.transaction("knowledge_refresh_page") as session:
        repo = CollectionRepository(session, organization_id)
        before = await repo.by_url(collection_id, arguments["url"])
        if before is None:
            return {"outcome": "failed", "error": "the document was deleted"}
        if (before.title, before.content) == (page["title"], page["text"]):
            return {"outcome": "unchanged"}
        await repo.put_document(collection_id, page["url"], page["title"], page["text"])
        KnowledgeService(session, organization_id).passages_changed(collection_id)
    return {"outcome": "changed"}


async def _mark_refreshed(arguments: dict[str, Any]) -> None:
    async with steps.transaction("knowledge_refreshed") as session:
        repo = CollectionRepository(session, uuid.UUID(arguments["organization_id"]))
        collection = await repo.get(uuid.UUID(arguments["collection_id"]))
        if collection is not None:
            collection.last_refreshed_at = utcnow()


async def _refresh_body(run: WorkflowRun) -> dict[str, Any]:
    arguments = {
        "organization_id": str(run.organization_id),
        "collection_id": run.input["collection_id"],
    }
    urls = await engine.run_step(_urls, arguments)
    outcomes: dict[str, list[str]] = {"changed": [], "unchanged": [], "failed": []}
    for done, url in enumerate(urls):
        await tracking.progress(run.id, "refresh", f"Fetching {url}", done, len(urls))
        result = await engine.run_step(_refresh_page, {**arguments, "url": url})
        outcomes[result["outcome"]].append(url)
    await engine.run_step(_mark_refreshed, arguments)
    if outcomes["changed"]:
        await embedding.start_in_workflow(run.id, run.organization_id, arguments["collection_id"])
    await tracking.progress(run.id, "done", "Done", len(urls), len(urls))
    return {"collection_id": arguments["collection_id"], **outcomes}


async def refresh_collection(run_id: str) -> None:
    """The workflow `knowledge_refresh` (registered by callplane.wiring)."""
    await tracking.execute(run_id, _refresh_body)
