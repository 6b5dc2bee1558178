"""Reading a document from a request: JSON text, or a multipart upload of one file.

The body has already been bounded by the app's body limit (CALLPLANE_MAX_BODY_BYTES: a larger
upload is refused with 413 as soon as its Content-Length, or its bytes, pass the limit, without
being read further). Files are parsed in a worker thread, before the request's transaction
touches the database (on SQLite a write transaction holds the single write lock).
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from callplane.errors import VALIDATION_ERROR, UnprocessableRequest
from callplane.knowledge.errors import UploadInvalid
from callplane.knowledge.extract import Extracted, extract, media_type_of, text_document
from callplane.knowledge.schemas import DocumentCreate


class InvalidDocumentBody(UnprocessableRequest):
    code = VALIDATION_ERROR


async def read_document(request: Request) -> tuple[str, str | None, str | None, Extracted]:
    """(source, title, filename, extracted text) of the request's document."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _upload(request)
    if media not in ("application/json", ""):
        raise UploadInvalid(
            "Send the document as JSON (application/json) or as a multipart/form-data upload."
        )
    try:
        body = DocumentCreate.model_validate_json(await request.body())
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in issue['loc']) or 'body'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise InvalidDocumentBody(problems) from None
    if body.content is None or not body.content.strip():
        raise InvalidDocumentBody("content: a document needs text.")
    extracted = await asyncio.to_thread(text_document, body.content, body.content_type)
    return "text", body.title or None, None, extracted


async def _upload(request: Request) -> tuple[str, str | None, str | None, Extracted]:
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as error:  # a malformed multipart body: the parser's own message
        raise UploadInvalid(f"The multipart body cannot be read: {error}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadInvalid()
        title = form.get("title")
        if title is not None and (not isinstance(title, str) or len(title) > 500):
            raise UploadInvalid("title: text of at most 500 characters.")
        filename = (upload.filename or "")[:255] or None
        media_type = media_type_of(filename, upload.content_type)
        data = await upload.read()
    finally:
        await form.close()
    extracted = await asyncio.to_thread(extract, data, media_type)
    cleaned = title.strip() or None if isinstance(title, str) else None
    return "upload", cleaned, filename, extracted
