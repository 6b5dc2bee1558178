"""`/console/knowledge`: knowledge collections, their documents, crawls, refreshes and search.

The same services and scopes as `/core/knowledge-collections` (`knowledge_bases:read` or manage
to see and search, `knowledge_bases:manage` to change); every write checks the session's CSRF
token, file uploads included (a `csrf_token` field of the multipart form).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from callplane.auth.scopes import Scope
from callplane.console.endpoints import PAGE
from callplane.console.web import (
    ConsoleRoute,
    acting,
    check_csrf,
    field_errors,
    field_errors_text,
    page_uuid,
    render,
    require,
    signed_in,
    transaction,
)
from callplane.errors import AppError
from callplane.knowledge.endpoints import check_url
from callplane.knowledge.errors import CollectionNotFound
from callplane.knowledge.extract import text_document
from callplane.knowledge.repository import CollectionRepository
from callplane.knowledge.schemas import CollectionCreate, CrawlRequest, DocumentCreate
from callplane.knowledge.search import KnowledgeSearch
from callplane.knowledge.service import KnowledgeService
from callplane.knowledge.uploads import read_document
from callplane.workflows.service import derive_workflow_id

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

READ = (Scope.KNOWLEDGE_BASES_READ.value, Scope.KNOWLEDGE_BASES_MANAGE.value)
MANAGE = Scope.KNOWLEDGE_BASES_MANAGE.value
MODES = ("keyword", "semantic", "hybrid")


# --- Collections --------------------------------------------------------------------------------


async def _collections_page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    subject = await signed_in(request)
    require(subject, *READ)
    name = (request.query_params.get("name") or "").strip()[:200] or None
    async with transaction(request, write=False) as session:
        rows, next_cursor = await CollectionRepository(session, subject.organization_id).list(
            limit=PAGE, cursor=request.query_params.get("cursor") or None, name=name
        )
    return render(
        request,
        "knowledge.html",
        {
            "collections": rows,
            "next_cursor": next_cursor,
            "name": name or "",
            "values": values or {},
            "errors": errors or {},
        },
        status=status,
    )


@router.get("/knowledge")
async def collections_page(request: Request) -> Response:
    return await _collections_page(request)


@router.post("/knowledge")
async def create_collection(request: Request) -> Response:
    subject, fields = await acting(request, MANAGE)
    hours = fields.get("refresh_interval_hours", "").strip()
    try:
        body = CollectionCreate.model_validate(
            {
                "name": fields.get("name", ""),
                "description": fields.get("description") or None,
                "refresh_interval_hours": hours or None,
            }
        )
    except ValidationError as invalid:
        return await _collections_page(
            request, values=fields, errors=field_errors(invalid), status=422
        )
    async with transaction(request, write=True) as session:
        collection = await KnowledgeService(session, subject.organization_id).create(body)
    return RedirectResponse(f"/console/knowledge/{collection.id}", status_code=303)


async def _collection_page(
    request: Request,
    collection_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The collection, a page of its documents, the forms, and the search (`?q=&mode=`)."""
    subject = await signed_in(request)
    require(subject, *READ)
    query = request.query_params
    errors = dict(errors or {})
    text = (query.get("q") or "").strip()[:2000]
    mode = query.get("mode") or ""
    results: list[Any] | None = None
    async with transaction(request, write=False) as session:
        repo = CollectionRepository(session, subject.organization_id)
        collection = await repo.get(page_uuid(collection_id))
        if collection is None:
            raise CollectionNotFound()
        documents, next_cursor = await repo.page_documents(
            collection.id, limit=PAGE, cursor=query.get("cursor") or None
        )
        if text:
            try:
                results = await KnowledgeSearch(session, subject.organization_id).search(
                    [collection.id], text, limit=10, mode=mode if mode in MODES else None
                )
            except AppError as refused:
                errors["search"] = refused.detail
    return render(
        request,
        "knowledge_collection.html",
        {
            "collection": collection,
            "documents": documents,
            "next_cursor": next_cursor,
            "q": text,
            "mode": mode if mode in MODES else "",
            "modes": MODES,
            "results": results,
            "errors": errors,
            "values": values or {},
        },
        status=status,
    )


@router.get("/knowledge/{collection_id}")
async def collection_page(request: Request, collection_id: str) -> Response:
    return await _collection_page(request, collection_id)


@router.post("/knowledge/{collection_id}/delete")
async def delete_collection(request: Request, collection_id: str) -> Response:
    """Refused (409, the message naming the published versions) while one uses it."""
    subject, _ = await acting(request, MANAGE)
    try:
        async with transaction(request, write=True) as session:
            await KnowledgeService(session, subject.organization_id).delete(
                page_uuid(collection_id)
            )
    except AppError as refused:
        if refused.status == 404:
            raise
        errors = {"delete": refused.detail}
        return await _collection_page(request, collection_id, errors=errors, status=refused.status)
    return RedirectResponse("/console/knowledge?deleted=1", status_code=303)


# --- Documents ----------------------------------------------------------------------------------


def _added(collection_id: str, created: bool) -> Response:
    notice = "added" if created else "duplicate"
    return RedirectResponse(f"/console/knowledge/{collection_id}?{notice}=1", status_code=303)


@router.post("/knowledge/{collection_id}/documents")
async def add_text(request: Request, collection_id: str) -> Response:
    """A document typed or pasted in (text, Markdown or HTML)."""
    subject, fields = await acting(request, MANAGE)
    try:
        body = DocumentCreate.model_validate(
            {
                "title": fields.get("title") or None,
                "content": fields.get("content", ""),
                "content_type": fields.get("content_type") or "text/plain",
            }
        )
    except ValidationError as invalid:
        message = field_errors_text(invalid)
        return await _collection_page(
            request, collection_id, errors={"text": message}, values=fields, status=422
        )
    if not (body.content or "").strip():
        return await _collection_page(
            request,
            collection_id,
            errors={"text": "A document needs text."},
            values=fields,
            status=422,
        )
    extracted = await asyncio.to_thread(text_document, body.content or "", body.content_type)
    try:
        async with transaction(request, write=True) as session:
            _, created = await KnowledgeService(session, subject.organization_id).add_document(
                page_uuid(collection_id), extracted, source="text", title=body.title or None
            )
    except AppError as refused:
        if refused.status == 404:
            raise
        return await _collection_page(
            request, collection_id, errors={"text": refused.detail}, values=fields, status=422
        )
    return _added(collection_id, created)


@router.post("/knowledge/{collection_id}/upload")
async def upload(request: Request, collection_id: str) -> Response:
    """A file (.txt, .md, .html, .pdf, .docx), read as `POST .../documents` reads uploads. The
    CSRF token is a field of the multipart form."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        await acting(request, MANAGE)
        return await _collection_page(
            request, collection_id, errors={"upload": "Choose a file to upload."}, status=422
        )
    subject = await signed_in(request)
    try:
        parsed = await request.form(max_files=1, max_fields=5)
    except Exception as error:  # a malformed multipart body: the parser's own message
        raise AppError(f"The upload cannot be read: {error}") from None
    token = parsed.get("csrf_token")
    check_csrf(request, subject, {"csrf_token": token if isinstance(token, str) else ""})
    require(subject, MANAGE)
    async with transaction(request, write=False) as session:
        await KnowledgeService(session, subject.organization_id).get(page_uuid(collection_id))
    try:
        source, title, filename, extracted = await read_document(request)  # the parsed form
        async with transaction(request, write=True) as session:
            _, created = await KnowledgeService(session, subject.organization_id).add_document(
                page_uuid(collection_id), extracted, source=source, title=title, filename=filename
            )
    except AppError as refused:
        if refused.status == 404:
            raise
        return await _collection_page(
            request, collection_id, errors={"upload": refused.detail}, status=refused.status
        )
    return _added(collection_id, created)


@router.post("/knowledge/{collection_id}/documents/{document_id}/delete")
async def delete_document(request: Request, collection_id: str, document_id: str) -> Response:
    subject, _ = await acting(request, MANAGE)
    async with transaction(request, write=True) as session:
        await KnowledgeService(session, subject.organization_id).delete_document(
            page_uuid(collection_id), page_uuid(document_id)
        )
    return RedirectResponse(f"/console/knowledge/{collection_id}?removed=1", status_code=303)


# --- Web pages: one URL, a crawl, a refresh (workflows, followed on their page) -----------------


def _to_run(run_id: str, collection_id: str) -> Response:
    return RedirectResponse(
        f"/console/workflows/{run_id}?collection={page_uuid(collection_id)}", status_code=303
    )


async def _crawl(request: Request, collection_id: str, *, single: bool) -> Response:
    subject, fields = await acting(request, MANAGE)
    target = "url" if single else "crawl"
    try:
        body = CrawlRequest.model_validate(
            {"url": fields.get("url", ""), "max_pages": 1, "max_depth": 0}
            if single
            else {
                "url": fields.get("url", ""),
                "max_pages": fields.get("max_pages") or 20,
                "max_depth": fields.get("max_depth") or 2,
            }
        )
    except ValidationError as invalid:
        message = field_errors_text(invalid)
        return await _collection_page(
            request, collection_id, errors={target: message}, values=fields, status=422
        )
    try:
        await check_url(body.url, request)
        async with transaction(request, write=True) as session:
            run = await KnowledgeService(session, subject.organization_id).start_crawl(
                page_uuid(collection_id), body, derive_workflow_id(request)
            )
    except AppError as refused:
        if refused.status == 404:
            raise
        return await _collection_page(
            request, collection_id, errors={target: refused.detail}, values=fields, status=422
        )
    return _to_run(run.id, collection_id)


@router.post("/knowledge/{collection_id}/url")
async def add_url(request: Request, collection_id: str) -> Response:
    """One web page, fetched in the background (a crawl of one page)."""
    return await _crawl(request, collection_id, single=True)


@router.post("/knowledge/{collection_id}/crawl")
async def crawl(request: Request, collection_id: str) -> Response:
    return await _crawl(request, collection_id, single=False)


@router.post("/knowledge/{collection_id}/refresh")
async def refresh(request: Request, collection_id: str) -> Response:
    subject, _ = await acting(request, MANAGE)
    async with transaction(request, write=True) as session:
        run = await KnowledgeService(session, subject.organization_id).start_refresh(
            page_uuid(collection_id), derive_workflow_id(request)
        )
    return _to_run(run.id, collection_id)
