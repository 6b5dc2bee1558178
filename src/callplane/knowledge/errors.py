from __future__ import annotations

from typing import ClassVar

from callplane.errors import AppError, Conflict, NotFound, UnprocessableRequest


class CollectionNotFound(NotFound):
    code = "knowledge_collection_not_found"
    default_detail = "Knowledge collection not found."


class EmbeddingsNotConfigured(UnprocessableRequest):
    code = "embeddings_not_configured"
    default_detail = (
        "Semantic search needs an embeddings endpoint (CALLPLANE_EMBEDDINGS_BASE_URL); "
        "use the keyword or hybrid mode."
    )


class DocumentNotFound(NotFound):
    code = "knowledge_document_not_found"
    default_detail = "Knowledge document not found."


class CollectionInUse(Conflict):
    code = "knowledge_collection_in_use"
    default_detail = "Published agent versions use this collection."


class UnsupportedDocumentType(AppError):
    status = 415
    code = "unsupported_document_type"
    default_detail = "Unsupported document type; upload .txt, .md, .html, .pdf or .docx."


class UnreadableDocument(UnprocessableRequest):
    """A document whose text cannot be had; `code` says why (empty, broken, encrypted...)."""

    code: ClassVar[str] = "document_unreadable"
    default_detail = "The document cannot be read."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail)
        if code is not None:
            self.code = code  # type: ignore[misc]


class DocumentTooLarge(AppError):
    status = 413
    code = "document_too_large"
    default_detail = "The document is larger than the limit."


class UploadInvalid(UnprocessableRequest):
    code = "upload_invalid"
    default_detail = "Send one file in the multipart field `file`."


class UrlRefused(UnprocessableRequest):
    code = "url_refused"
    default_detail = "The crawler cannot fetch this URL."


class EmbeddingsUnavailable(AppError):
    status = 503
    code = "embeddings_unavailable"
    default_detail = "The embeddings endpoint failed; retry, or use the keyword mode."
