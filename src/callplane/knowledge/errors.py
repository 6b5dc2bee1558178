from __future__ import annotations

from callplane.errors import NotFound, UnprocessableRequest


class CollectionNotFound(NotFound):
    code = "knowledge_collection_not_found"
    default_detail = "Knowledge collection not found."


class EmbeddingsNotConfigured(UnprocessableRequest):
    code = "embeddings_not_configured"
    default_detail = (
        "Semantic search needs an embeddings endpoint (CALLPLANE_EMBEDDINGS_BASE_URL); "
        "use the keyword or hybrid mode."
    )
